// Package handlers serves the HTTP API: it wires the stores, the auth
// services and the middleware into one http.Handler (App), and holds the
// thin handlers of every route.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/metrics"
	"simpleapi/middleware"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/jsonfile/atomicfile"
	"simpleapi/store/memory"
)

func init() {
	// Gin's debug mode prints every route to stdout; logging is ours.
	gin.SetMode(gin.ReleaseMode)
}

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
	cfg           config.Config
	log           *slog.Logger
	db            *jsonfile.DB
	users         store.UserStore
	hasher        *auth.Hasher
	accounts      *auth.Accounts
	login         *auth.Login
	crossOrigin   *middleware.CrossOrigin
	authenticator middleware.Authenticator
	engine        *gin.Engine
	handler       http.Handler
	metrics       *metrics.Metrics

	// Session modes only.
	sessionStore store.SessionStore
	sessions     *auth.SessionManager
	cookies      *middleware.SessionCookies
	stopSweeper  context.CancelFunc
	sweeperDone  sync.WaitGroup

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

// New opens the data directory and builds the service. Close releases it.
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
	db, err := jsonfile.Open(cfg.DataDir, jsonfile.Options{Logger: log, Sessions: cfg.AuthType == config.AuthSessionDB,
		ObserveWrite: m.ObserveStoreWrite, Now: now, SessionIdleTimeout: cfg.SessionIdleTimeout})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, db: db, users: db.Users(), metrics: m}
	a.hasher = auth.NewHasher(cfg.Argon2, 0)
	a.hasher.Observe = m.ObservePasswordHash
	a.accounts = &auth.Accounts{
		Users:             a.users,
		Hasher:            a.hasher,
		PasswordMinLength: cfg.PasswordMinLength,
		Now:               now,
		Log:               log,
	}
	var remembered *auth.CredentialCache
	if !cfg.SessionMode() {
		remembered = auth.NewCredentialCache(basicCacheTTL, basicCacheEntries, now)
	}
	a.login = auth.NewLogin(a.accounts, memory.NewLimiter(cfg.Login, now), remembered, m.LoginAttempt)
	if a.crossOrigin, err = middleware.NewCrossOrigin(cfg.CORSOrigins); err != nil {
		db.Close()
		return nil, fmt.Errorf("CORS_ORIGINS: %w", err)
	}
	if cfg.SessionMode() {
		if err := a.setUpSessions(now, opts.WrapSessions); err != nil {
			db.Close()
			return nil, err
		}
	} else {
		a.authenticator = middleware.BasicAuth{Login: a.login, CookieName: cfg.SessionName}
	}

	if cfg.AdminEmail != "" {
		if err := a.accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
			a.Close()
			return nil, fmt.Errorf("ADMIN_EMAIL: %s", store.ErrorMessage(err))
		}
	}
	a.handler, err = a.routes()
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// checkAdmin refuses ADMIN_EMAIL and ADMIN_PASSWORD values that could not
// create the first admin, as configuration errors (exit status 2) before
// anything is opened.
func checkAdmin(cfg config.Config) error {
	if cfg.AdminEmail == "" {
		return nil
	}
	if err := auth.ValidateEmail(cfg.AdminEmail); err != nil {
		return &config.Error{Var: "ADMIN_EMAIL", Value: cfg.AdminEmail,
			Allowed: "want a plausible email address: one @, non-empty parts, at most 254 bytes"}
	}
	check := auth.Accounts{PasswordMinLength: cfg.PasswordMinLength}
	if err := check.ValidatePassword(cfg.AdminPassword); err != nil {
		return &config.Error{Var: "ADMIN_PASSWORD", Value: config.Redact(cfg.AdminPassword),
			Allowed: fmt.Sprintf("want %d to %d characters (PASSWORD_MIN_LENGTH)", cfg.PasswordMinLength, auth.MaxPasswordLength)}
	}
	return nil
}

// setUpSessions builds the session store, manager and cookie codec of the
// session modes, and starts the background sweep.
func (a *App) setUpSessions(now func() time.Time, wrap func(store.SessionStore) store.SessionStore) error {
	cfg := a.cfg
	absolute, idle := cfg.SessionDuration, cfg.SessionIdleTimeout
	switch cfg.AuthType {
	case config.AuthSession:
		a.sessionStore = memory.NewSessions(now)
		absolute, idle = 0, 0 // session_auth sessions do not expire
	case config.AuthSessionExp:
		a.sessionStore = memory.NewSessions(now)
	case config.AuthSessionDB:
		a.sessionStore = a.db.Sessions()
	}
	if wrap != nil {
		a.sessionStore = wrap(a.sessionStore)
	}
	if err := a.metrics.RegisterActiveSessions(a.sessionStore.CountSessions); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	secrets := cfg.SessionSecrets
	if len(secrets) == 0 {
		secret, err := loadOrCreateSecret(cfg.DataDir)
		if err != nil {
			return err
		}
		secrets = [][]byte{secret}
	}
	trusted, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	a.sessions = auth.NewSessionManager(auth.SessionConfig{
		Store:          a.sessionStore,
		Absolute:       absolute,
		IdleTimeout:    idle,
		RotateInterval: cfg.SessionRotate,
		RotateGrace:    cfg.SessionRotateGrace,
		Now:            now,
		Log:            a.log,
	})
	a.cookies = middleware.NewSessionCookies(middleware.CookieConfig{
		Name:           cfg.SessionName,
		Secrets:        secrets,
		Secure:         cfg.CookieSecure,
		SameSite:       cfg.CookieSameSite,
		MaxAgeSeconds:  int(absolute / time.Second),
		TrustedProxies: trusted,
	})
	a.accounts.Sessions = a.sessions
	a.authenticator = middleware.SessionAuth{
		Cookies:     a.cookies,
		Sessions:    a.sessions,
		Users:       a.users,
		CrossOrigin: a.crossOrigin,
	}

	// Expired sessions are dropped at start, then every sweepInterval.
	if _, err := a.sessions.Sweep(context.Background()); err != nil {
		return fmt.Errorf("removing expired sessions: %w", err)
	}
	sweepCtx, cancel := context.WithCancel(context.Background())
	a.stopSweeper = cancel
	a.sweeperDone.Add(1)
	go func() {
		defer a.sweeperDone.Done()
		a.sessions.Run(sweepCtx, sweepInterval)
	}()
	return nil
}

// secretFile keeps the generated session secret when SESSION_SECRET is
// unset, so restarts keep sessions valid.
const secretFile = jsonfile.SecretFile

func loadOrCreateSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	if b, err := os.ReadFile(path); err == nil {
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 32 {
			return nil, fmt.Errorf("%s is damaged: delete it to generate a new secret (every session ends)", path)
		}
		return secret, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := make([]byte, 64)
	_, _ = rand.Read(secret)
	if err := atomicfile.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n")); err != nil {
		return nil, fmt.Errorf("saving the generated session secret: %w", err)
	}
	return secret, nil
}

// parsePrefixes reads TRUSTED_PROXIES entries (IPs or CIDRs, validated by
// config) as prefixes.
func parsePrefixes(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP or CIDR", e)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

// Handler is the service's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Routes lists the registered routes as "METHOD /path/:param".
func (a *App) Routes() []string {
	var out []string
	for _, r := range a.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Metrics serves the service's Prometheus metrics; serve mounts it on
// METRICS_ADDR, never on the API's listener.
func (a *App) Metrics() http.Handler { return a.metrics.Handler() }

// HasAdmin reports whether any user is an admin, for the start-up warning.
func (a *App) HasAdmin(ctx context.Context) (bool, error) { return a.accounts.HasAdmin(ctx) }

// Hasher is the password hasher, for tests that count its work.
func (a *App) Hasher() *auth.Hasher { return a.hasher }

// SessionStore is the session store of the session modes (nil in
// basic_auth), for tests and benchmarks.
func (a *App) SessionStore() store.SessionStore { return a.sessionStore }

// Close stops the background work and releases the data directory (the
// JSON-file store writes pending session uses as it closes). It is safe
// to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		if a.stopSweeper != nil {
			a.stopSweeper()
			a.sweeperDone.Wait()
		}
		a.closeErr = a.db.Close()
	})
	return a.closeErr
}
