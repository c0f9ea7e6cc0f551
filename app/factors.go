package app

import (
	"log/slog"
	"time"

	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/store"
)

// secondFactors builds the second-factor service. secrets are the
// session secrets (nil in basic_auth, where nothing can be enrolled): the
// TOTP secrets are sealed under keys derived from them, so they rotate
// with SESSION_SECRET.
func (a *App) secondFactors(secrets [][]byte, login *auth.Login, ender auth.SessionEnder, log *slog.Logger,
	now func() time.Time) (*auth.SecondFactors, error) {
	f := &auth.SecondFactors{
		Users:    a.stores.users,
		Login:    login,
		Sessions: ender,
		Now:      now,
		Log:      log,
		Observe:  a.metrics.SecondFactorAttempt,
	}
	if len(secrets) > 0 {
		sealer, err := auth.NewSealer(secrets)
		if err != nil {
			return nil, err
		}
		f.Sealer = sealer
	}
	return f, nil
}

// passkeys builds the passkey service of the session modes: the RP id and
// origins of the configuration, ceremonies kept in the session store.
func (a *App) passkeys(cfg config.Config, factors *auth.SecondFactors, login *auth.Login, log *slog.Logger,
	now func() time.Time) (*auth.Passkeys, error) {
	return auth.NewPasskeys(auth.PasskeyConfig{
		RPID:       cfg.WebAuthnRPID,
		Origins:    cfg.WebAuthnOrigins,
		Users:      a.stores.users,
		Challenges: a.sessionStore,
		Factors:    factors,
		Login:      login,
		Now:        now,
		Log:        log,
	})
}

// policy is what the marks of a route's access ask of a caller.
func policy(cfg config.Config, now func() time.Time) auth.Policy {
	roles := make([]store.Role, len(cfg.MFARequiredRoles))
	for i, r := range cfg.MFARequiredRoles {
		roles[i] = store.Role(r)
	}
	return auth.Policy{ReauthMaxAge: cfg.ReauthMaxAge, MFARoles: roles, Now: now}
}
