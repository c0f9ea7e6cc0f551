package app

import (
	"log/slog"
	"time"

	"simpleapi/config"
	"simpleapi/metrics"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/memory"
)

// stores are the open stores of one configuration.
type stores struct {
	users    store.UserStore
	sessions store.SessionStore // nil in basic_auth
	close    func() error       // releases every store opened
}

// openStores opens the stores the configuration asks for. A new backend
// is one more case here; nothing else in the service names a store.
func openStores(cfg config.Config, log *slog.Logger, m *metrics.Metrics, now func() time.Time) (*stores, error) {
	db, err := jsonfile.Open(cfg.DataDir, jsonfile.Options{Logger: log, Sessions: cfg.AuthType == config.AuthSessionDB,
		ObserveWrite: m.ObserveStoreWrite, Now: now, SessionIdleTimeout: cfg.SessionIdleTimeout})
	if err != nil {
		return nil, err
	}
	s := &stores{users: db.Users(), close: db.Close}
	switch cfg.AuthType {
	case config.AuthBasic: // no sessions
	case config.AuthSessionDB:
		s.sessions = db.Sessions()
	default: // session_auth, session_exp_auth: sessions end with the process
		s.sessions = memory.NewSessions(now)
	}
	return s, nil
}
