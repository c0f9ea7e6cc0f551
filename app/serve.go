package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"simpleapi/config"
	"simpleapi/metrics"
)

// loadConfig reads the configuration of serve; -h prints the commands and
// the flags.
func loadConfig(args []string, getenv func(string) string, stdout io.Writer) (config.Config, error) {
	cfg, err := config.Load(args, getenv)
	var cfgErr *config.Error
	switch {
	case err == nil, errors.As(err, &cfgErr):
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, mainUsage+"\n")
		config.Usage(stdout)
	default:
		err = usageError{flagError(err) + " (see simpleapi -h)"} // unknown flag, stray argument
	}
	return cfg, err
}

// newLogger builds the process logger from LOG_LEVEL and LOG_FORMAT:
// slog's JSON or text handler writing to w. Each line is one Write, done
// before the call that logs it returns, so with w unbuffered (serve's is
// stderr) an audit line is out before the answer it records is sent.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultGOGC is the garbage collector's GOGC while serving, unless the
// environment sets GOGC. The service keeps little live data (about 1 MiB
// with a few users and sessions), and at Go's default of 100 the heap
// goal stays at the runtime's 4 MiB minimum: under load it collected 30
// to 40 times a second. At 200 that minimum becomes 8 MiB: the
// collector's share of a /users/me fell from about 13,000 instructions
// to 5,400 (800 would take it to 1,300), while a login storm's peak RSS,
// which argon2id's 19 MiB per hash drives, grew by a quarter (by three
// quarters at 400, 2.7 times at 800). No GOMEMLIMIT is set: a fixed one
// would make the collector run without pause whenever the live heap
// neared it (large memory stores, many hashing slots).
const defaultGOGC = 200

// useDefaultGOGC sets defaultGOGC unless the environment sets GOGC; the
// returned function restores what was there.
func useDefaultGOGC(getenv func(string) string) (restore func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	before := debug.SetGCPercent(defaultGOGC)
	return func() { debug.SetGCPercent(before) }
}

// serve runs the server until ctx ends, then lets in-flight requests
// finish (up to SHUTDOWN_TIMEOUT) and closes the store cleanly.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	defer useDefaultGOGC(getenv)()

	// The certificate is loaded before anything listens, so a missing or
	// mismatched file stops the start rather than every handshake.
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return cfg.Invalid("TLS_CERT_FILE", cfg.TLSCertFile,
				"want a readable PEM certificate matching TLS_KEY_FILE ("+strings.ReplaceAll(err.Error(), "\n", " ")+")")
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}

	b := currentBuild()
	m := metrics.New()
	if err := m.RegisterBuildInfo(b.Version, b.Revision); err != nil {
		return err
	}
	svc, err := New(ctx, cfg, Options{Logger: log, Metrics: m})
	if err != nil {
		return err
	}
	defer svc.Close()
	warnIfNoAdmin(ctx, svc, log)

	addr := net.JoinHostPort(cfg.APIHost, strconv.Itoa(cfg.APIPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("API_HOST and API_PORT: %w", err)
	}
	srv := newHTTPServer(svc.Handler(), log)
	srv.TLSConfig = tlsConfig
	// The metrics listener is separate from the API's, so the metrics are
	// never exposed where the API is, and it is plain HTTP: it belongs on
	// an internal address.
	var metricsSrv *http.Server
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", svc.Metrics())
		metricsSrv = newHTTPServer(mux, log)
	}

	serveErr := make(chan error, 2)
	go func() {
		if cfg.TLSCertFile != "" {
			serveErr <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	if err := writeServerURL(cfg.DataDir, localURL(ln.Addr(), cfg.TLSCertFile != "")); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("cannot record the server's address for `simpleapi healthcheck`", "err", err.Error())
	}
	log.Info("listening", "url", clickableURL(ln.Addr(), cfg.TLSCertFile != ""), "addr", ln.Addr().String(),
		"version", b.Version, "auth_type", cfg.AuthType, "data_dir", cfg.DataDir, "tls", cfg.TLSCertFile != "")
	if metricsSrv != nil {
		go func() { serveErr <- metricsSrv.Serve(metricsLn) }()
		log.Info("serving metrics", "addr", metricsLn.Addr().String(), "path", "/metrics")
	}

	var runErr error
	select {
	case runErr = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdownCtx)
	}
	// Removed while this process still holds DATA_DIR, so it is never a
	// later server's address that goes.
	if runErr != nil {
		srv.Close()
		removeServerURL(cfg.DataDir)
		return runErr
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still running at shutdown timeout", "err", err.Error())
	}
	removeServerURL(cfg.DataDir)
	if err := svc.Close(); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	log.Info("stopped")
	return nil
}

// warnIfNoAdmin tells a first-time operator how to get in: without an
// admin nobody can manage users through the API.
func warnIfNoAdmin(ctx context.Context, svc *App, log *slog.Logger) {
	ok, err := svc.HasAdmin(ctx)
	if err != nil || ok {
		return
	}
	log.Warn("no admin exists: restart with ADMIN_EMAIL and ADMIN_PASSWORD set, " +
		"or stop the server and run `simpleapi user create --email you@example.com --role admin`")
}

// maxRequestHead is the largest request head (request line and headers,
// through the blank line that ends them) accepted, as docs/configuration.md says:
// 64 KiB. A larger head is answered 431.
const maxRequestHead = 64 << 10

// netHTTPHeaderSlack is what net/http reads beyond MaxHeaderBytes before
// it answers 431: it lets a request head of up to MaxHeaderBytes + 4096
// bytes in (http.Server.initialReadLimitSize, "bufio slop"). MaxHeaderBytes
// is set this much below maxRequestHead so that the head accepted is
// 64 KiB, not 68 KiB. (HTTP/2, over TLS, limits the header list instead,
// to MaxHeaderBytes + 320 bytes counted as RFC 7541 does: names and values
// plus 32 bytes a field.)
const netHTTPHeaderSlack = 4096

// newHTTPServer is an http.Server with limits that keep slow or oversized
// clients from holding connections and memory: net/http's own timeouts
// (headers 10 s, whole request 30 s, writing the answer 60 s, an idle
// keep-alive connection 120 s).
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxRequestHead - netHTTPHeaderSlack, // net/http adds the slack back
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
