package app

import (
	"context"
	"log/slog"
	"time"

	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/metrics"
)

// openAccounts opens the stores of cfg as the server does and builds the
// account service over them, for the user commands: the same user store,
// the same rules, and a user's sessions ended in the configured session
// store (and tokens revoked) as through the API. close releases the
// stores.
func openAccounts(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *auth.Accounts, close func() error, _ error) {
	st, err := openStores(ctx, cfg, log, metrics.New(), time.Now)
	if err != nil {
		return nil, nil, err
	}
	var sessions auth.SessionEnder // a nil interface without a session store
	if st.sessions != nil {
		sessions = newSessionManager(cfg, st.sessions, time.Now, log)
	}
	hasher := auth.NewHasher(argon2Params(cfg.Argon2), auth.HasherOptions{})
	accounts := newAccounts(cfg, st.users, hasher, sessions, time.Now, log)
	accounts.Tokens = &auth.Tokens{Store: st.tokens, Now: time.Now, Log: log}
	return accounts, st.close, nil
}
