// Package app is the simpleapi command: Run reads the command line and the
// environment and runs serve, user, migrate, healthcheck or version. It
// wires the service together from its configuration: it opens the stores,
// chooses the session store, loads the session secret, creates the first
// admin, builds the auth services and hands them to handlers. It is the
// only package that reads the configuration and the only one that knows
// every concrete store.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/handlers"
	"simpleapi/metrics"
	"simpleapi/middleware"
	"simpleapi/store"
)

// Basic credentials that verified are remembered this long (see
// auth.CredentialCache), for at most this many clients.
const (
	basicCacheTTL     = 5 * time.Minute
	basicCacheEntries = 10_000
)

// sweepInterval is how often the session store is asked to remove
// expired sessions.
const sweepInterval = time.Minute

// App is one configured instance of the service.
type App struct {
	stores       *stores
	accounts     *auth.Accounts
	hasher       *auth.Hasher
	metrics      *metrics.Metrics
	sessionStore store.SessionStore // nil in basic_auth
	secrets      [][]byte           // the session secrets; nil in basic_auth
	api          *handlers.API

	stopSweeper context.CancelFunc // nil in basic_auth
	sweeperDone sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Options are dependencies that tests replace.
type Options struct {
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now
	// WrapSessions, when set, wraps the session store (tests count the
	// lookups that reach it).
	WrapSessions func(store.SessionStore) store.SessionStore
	// Metrics receives the service's measurements; default a fresh
	// registry. One App per Metrics: a second would clash on its gauges.
	Metrics *metrics.Metrics
}

// New opens the stores and builds the service. Close releases them.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := checkAdmin(cfg); err != nil {
		return nil, err
	}
	m := opts.Metrics
	if m == nil {
		m = metrics.New()
	}
	st, err := openStores(ctx, cfg, log, m, now)
	if err != nil {
		return nil, err
	}
	a := &App{stores: st, metrics: m}
	if err := a.build(ctx, cfg, opts, log, now); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// build makes every service from the open stores, each whole when it is
// made, and the handler last.
func (a *App) build(ctx context.Context, cfg config.Config, opts Options, log *slog.Logger, now func() time.Time) error {
	users := a.stores.users
	// One core fewer than the machine has (at least one) hashes passwords,
	// so a login storm cannot take every core from the other requests.
	a.hasher = auth.NewHasher(argon2Params(cfg.Argon2), auth.HasherOptions{
		Slots:   max(runtime.NumCPU()-1, 1),
		MaxWait: cfg.Argon2MaxWait,
		Observe: a.metrics.ObservePasswordHash,
	})
	if err := a.metrics.RegisterHashRefusals(a.hasher.Refused); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	trusted, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	crossOrigin, err := middleware.NewCrossOrigin(cfg.CORSOrigins, trusted)
	if err != nil {
		return fmt.Errorf("CORS_ORIGINS: %w", err)
	}

	var (
		sessions *auth.SessionManager
		cookies  *middleware.SessionCookies
		ender    auth.SessionEnder // stays a nil interface in basic_auth
	)
	if cfg.SessionMode() {
		if sessions, cookies, err = a.setUpSessions(cfg, trusted, opts.WrapSessions, log, now); err != nil {
			return err
		}
		ender = sessions
	}
	accounts := newAccounts(cfg, users, a.hasher, ender, now, log)
	a.accounts = accounts
	var remembered *auth.CredentialCache // Basic credentials that verified
	if !cfg.SessionMode() {
		remembered = auth.NewCredentialCache(basicCacheTTL, basicCacheEntries, now)
	}
	login := auth.NewLogin(accounts, a.stores.limiter, remembered, a.metrics.LoginAttempt,
		auth.LoginOptions{IPv6PrefixBits: cfg.Login.IPv6PrefixBits})
	factors, err := a.secondFactors(a.secrets, login, ender, log, now)
	if err != nil {
		return err
	}
	// Access tokens live with the users; an operator's password reset and
	// an admin's removal of a user's factors revoke them.
	tokens := &auth.Tokens{Store: a.stores.tokens, Login: login, Now: now, Log: log}
	accounts.Tokens, factors.Tokens = tokens, tokens
	var passkeys *auth.Passkeys
	if cfg.SessionMode() {
		if passkeys, err = a.passkeys(cfg, factors, login, log, now); err != nil {
			return err
		}
	}
	var authn middleware.Authenticator
	if cfg.SessionMode() {
		authn = middleware.SessionAuth{Cookies: cookies, Sessions: sessions, Users: users}
	} else {
		authn = middleware.BasicAuth{Login: login, CookieName: cfg.SessionName}
	}

	if cfg.AdminEmail != "" {
		if err := accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
			return fmt.Errorf("ADMIN_EMAIL: %s", store.ErrorMessage(err))
		}
	}
	a.api, err = handlers.New(handlers.Deps{
		Log:                log,
		Metrics:            a.metrics,
		Users:              users,
		Ready:              a.stores.ready,
		Accounts:           accounts,
		Login:              login,
		Factors:            factors,
		Passkeys:           passkeys,
		Authenticator:      authn,
		Tokens:             &middleware.TokenAuth{Tokens: tokens, CookieName: cfg.SessionName},
		Policy:             policy(cfg, now),
		CrossOrigin:        crossOrigin,
		Sessions:           sessions,
		Cookies:            cookies,
		TrustedProxies:     cfg.TrustedProxies,
		TrustedPrefixes:    trusted,
		HSTSMaxAge:         cfg.HSTSMaxAge,
		CORSOrigins:        cfg.CORSOrigins,
		MaxBodyBytes:       cfg.MaxBodyBytes,
		GenericLoginErrors: cfg.AuthGenericErrors,
	})
	if err != nil {
		return err
	}
	if sessions != nil {
		a.startSweeper(sessions)
	}
	return nil
}

// setUpSessions builds the session store, manager and cookie codec of the
// session modes.
func (a *App) setUpSessions(cfg config.Config, trusted []netip.Prefix, wrap func(store.SessionStore) store.SessionStore,
	log *slog.Logger, now func() time.Time) (*auth.SessionManager, *middleware.SessionCookies, error) {
	a.sessionStore = a.stores.sessions
	if wrap != nil {
		a.sessionStore = wrap(a.sessionStore)
	}
	if err := a.metrics.RegisterActiveSessions(a.sessionStore.CountSessions); err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	secrets := cfg.SessionSecrets
	if len(secrets) == 0 {
		secret, err := loadOrCreateSecret(cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		secrets = [][]byte{secret}
	}
	a.secrets = secrets
	sessions := newSessionManager(cfg, a.sessionStore, now, log)
	absolute, _ := sessionDeadlines(cfg)
	cookies := middleware.NewSessionCookies(middleware.CookieConfig{
		Name:           cfg.SessionName,
		Secrets:        secrets,
		Secure:         cfg.CookieSecure,
		SameSite:       cfg.CookieSameSite,
		MaxAgeSeconds:  int(absolute / time.Second),
		TrustedProxies: trusted,
	})
	// Expired sessions are dropped at start, then every sweepInterval.
	if _, err := sessions.Sweep(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("removing expired sessions: %w", err)
	}
	return sessions, cookies, nil
}

// sessionDeadlines are a session's longest life and idle time (0: none).
func sessionDeadlines(cfg config.Config) (absolute, idle time.Duration) {
	if cfg.AuthType == config.AuthSession {
		return 0, 0 // session_auth sessions do not expire
	}
	return cfg.SessionDuration, cfg.SessionIdleTimeout
}

// newSessionManager is the session manager over the session store of
// cfg, for the server and for the user commands, which end sessions
// through it as the API does.
func newSessionManager(cfg config.Config, sessions store.SessionStore, now func() time.Time,
	log *slog.Logger) *auth.SessionManager {
	absolute, idle := sessionDeadlines(cfg)
	return auth.NewSessionManager(auth.SessionConfig{
		Store:          sessions,
		Absolute:       absolute,
		IdleTimeout:    idle,
		RotateInterval: cfg.SessionRotate,
		RotateGrace:    cfg.SessionRotateGrace,
		Now:            now,
		Log:            log,
	})
}

// newAccounts is the account service: the same rules for the API and for
// the user commands.
func newAccounts(cfg config.Config, users store.UserStore, hasher *auth.Hasher, sessions auth.SessionEnder,
	now func() time.Time, log *slog.Logger) *auth.Accounts {
	return &auth.Accounts{
		Users:             users,
		Hasher:            hasher,
		PasswordMinLength: cfg.PasswordMinLength,
		Sessions:          sessions,
		Now:               now,
		Log:               log,
	}
}

// startSweeper removes expired sessions and writes recorded uses in the
// background until Close.
func (a *App) startSweeper(sessions *auth.SessionManager) {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopSweeper = cancel
	a.sweeperDone.Go(func() { sessions.Run(ctx, sweepInterval) })
}

// Handler is the service's HTTP handler.
func (a *App) Handler() http.Handler { return a.api }

// Routes lists the registered routes as "METHOD /path/:param".
func (a *App) Routes() []string { return a.api.Routes() }

// Access returns who may call a route, as it was declared (see
// handlers.API.Access).
func (a *App) Access(method, path string) (auth.Access, bool) { return a.api.Access(method, path) }

// Metrics serves the service's Prometheus metrics; serve mounts it on
// METRICS_ADDR, never on the API's listener.
func (a *App) Metrics() http.Handler { return a.metrics.Handler() }

// HasAdmin reports whether any user is an admin, for the start-up warning.
func (a *App) HasAdmin(ctx context.Context) (bool, error) { return a.accounts.HasAdmin(ctx) }

// Hasher is the password hasher, for tests that count its work.
func (a *App) Hasher() *auth.Hasher { return a.hasher }

// Users is the user store, for tests that set up what the API cannot
// (a passkey's signature counter).
func (a *App) Users() store.UserStore { return a.stores.users }

// SessionStore is the session store of the session modes (nil in
// basic_auth), for tests and benchmarks.
func (a *App) SessionStore() store.SessionStore { return a.sessionStore }

// Close stops the background work and releases the stores (the JSON-file
// store writes pending session uses as it closes). It is safe to call
// more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		if a.stopSweeper != nil {
			a.stopSweeper()
			a.sweeperDone.Wait()
		}
		a.closeErr = a.stores.close()
	})
	return a.closeErr
}
