// Package metrics holds the service's Prometheus collectors in a registry
// of their own (not the global one, so that one process, or one test, can
// build many servers), and serves them in the text exposition format.
//
// Every method is safe on a nil *Metrics, where it does nothing, so code
// that records a measurement never has to check whether metrics are on.
package metrics

import (
	"context"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the service.
const Namespace = "simpleapi"

// Login attempt outcomes, the values of simpleapi_login_attempts_total's
// "outcome" label.
const (
	LoginSuccess       = "success"        // the password verified
	LoginUnknownEmail  = "unknown_email"  // no account with that email
	LoginWrongPassword = "wrong_password" // the account exists, the password is wrong
	LoginThrottled     = "throttled"      // refused with 429 before any password check
	LoginInvalid       = "invalid"        // malformed request: missing email or password, bad body
)

// Second-factor methods and results, the labels of
// simpleapi_second_factor_attempts_total.
const (
	FactorTOTP         = "totp"
	FactorRecoveryCode = "recovery_code"
	FactorPasskey      = "passkey" // a second factor, a re-authentication or a sign-in by passkey alone

	FactorSuccess   = "success"   // the code was right
	FactorFailure   = "failure"   // wrong, or already used
	FactorThrottled = "throttled" // refused with 429 before the code was checked
)

// Unmatched is the route label of requests that matched no route.
const Unmatched = "unmatched"

// Metrics is one registry and the service's collectors in it.
type Metrics struct {
	registry *prometheus.Registry

	requests     *prometheus.CounterVec   // route, method, status
	duration     *prometheus.HistogramVec // route, method
	logins       *prometheus.CounterVec   // outcome
	factors      *prometheus.CounterVec   // method, result
	passwordHash prometheus.Histogram
	storeWrite   prometheus.Histogram
	storeOps     *prometheus.HistogramVec // backend, operation
	nodeErrors   *prometheus.CounterVec   // backend, node
	authRequests *prometheus.CounterVec   // method, result
	// authCounts holds authRequests' series by method, [refused, ok]:
	// resolved once, since every protected request counts one (client_golang
	// hashes the labels on each WithLabelValues).
	authCounts map[string][2]prometheus.Counter
}

// New builds a registry holding the service's collectors and the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "login_attempts_total",
			Help: "Login attempts by outcome: success, unknown_email, wrong_password, throttled, invalid.",
		}, []string{"outcome"}),
		factors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "second_factor_attempts_total",
			Help: "Second-factor checks (sign-in, re-authentication, enrolment) by method (totp, recovery_code, " +
				"passkey, which counts sign-ins by passkey alone too) and result (success, failure, throttled).",
		}, []string{"method", "result"}),
		passwordHash: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "password_hash_seconds",
			Help: "Time of one argon2id computation (hashing or verifying a password), " +
				"not counting the wait for a free hashing slot.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms .. ~8 s
		}),
		storeWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "store_write_seconds",
			Help: "Time to write and fsync one group-commit batch of the data files' journals; " +
				"writes are acknowledged when their batch is durable.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. ~3 s
		}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "store_operation_seconds",
			Help:    "Time of one operation of a networked store (postgres, redis), by backend and operation, whatever its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. ~3 s
		}, []string{"backend", "operation"}),
		nodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "store_node_errors_total",
			Help: "Commands (or pipelines, or dials) of a networked store that failed, by backend and node " +
				"(host:port; sentinel:<name> for a Sentinel's primary).",
		}, []string{"backend", "node"}),
		authRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "auth_requests_total",
			Help: "Requests to protected routes by the credentials they presented (token, session, basic, none) " +
				"and result (ok, refused).",
		}, []string{"method", "result"}),
	}
	// Every outcome is exported from the start, at zero, so that rates
	// and alerts do not depend on the first event of each kind.
	for _, o := range []string{LoginSuccess, LoginUnknownEmail, LoginWrongPassword, LoginThrottled, LoginInvalid} {
		m.logins.WithLabelValues(o)
	}
	for _, method := range []string{FactorTOTP, FactorRecoveryCode, FactorPasskey} {
		for _, result := range []string{FactorSuccess, FactorFailure, FactorThrottled} {
			m.factors.WithLabelValues(method, result)
		}
	}
	m.authCounts = map[string][2]prometheus.Counter{}
	for _, method := range []string{"token", "session", "basic", "none"} {
		m.authCounts[method] = [2]prometheus.Counter{
			m.authRequests.WithLabelValues(method, "refused"), m.authRequests.WithLabelValues(method, "ok"),
		}
	}
	m.registry.MustRegister(
		m.requests, m.duration, m.logins, m.factors, m.passwordHash, m.storeWrite, m.storeOps, m.nodeErrors,
		m.authRequests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry holding the collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.registry
}

// Handler serves the registry in the Prometheus exposition formats. With
// a nil m it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ObserveRequest counts one answered request. route is the route template
// (never the raw path) or Unmatched; method is bounded by Method. The
// series are bounded like the labels' values: route templates, Method's
// methods and status codes.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	method = Method(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// LoginAttempt counts one login attempt with outcome, one of the Login*
// constants.
func (m *Metrics) LoginAttempt(outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(outcome).Inc()
}

// AuthRequest counts one request to a protected route by how it
// authenticated (middleware's Auth* methods: token, session, basic, none)
// and whether that passed.
func (m *Metrics) AuthRequest(method string, ok bool) {
	if m == nil {
		return
	}
	i := 0
	if ok {
		i = 1
	}
	if c, found := m.authCounts[method]; found {
		c[i].Inc()
		return
	}
	m.authRequests.WithLabelValues(method, [2]string{"refused", "ok"}[i]).Inc()
}

// SecondFactorAttempt counts one second-factor check: method is one of
// the Factor* methods, result one of the Factor* results.
func (m *Metrics) SecondFactorAttempt(method, result string) {
	if m == nil {
		return
	}
	m.factors.WithLabelValues(method, result).Inc()
}

// ObservePasswordHash records the duration of one argon2id computation.
func (m *Metrics) ObservePasswordHash(d time.Duration) {
	if m == nil {
		return
	}
	m.passwordHash.Observe(d.Seconds())
}

// ObserveStoreWrite records the duration of one durable journal write.
func (m *Metrics) ObserveStoreWrite(d time.Duration) {
	if m == nil {
		return
	}
	m.storeWrite.Observe(d.Seconds())
}

// StoreObserver returns the function a store of backend calls with the
// duration of each operation (nil with a nil m). Operation names come
// from the store's code, never from clients, so the series are bounded.
func (m *Metrics) StoreObserver(backend string) func(op string, d time.Duration) {
	if m == nil {
		return nil
	}
	return func(op string, d time.Duration) {
		m.storeOps.WithLabelValues(backend, op).Observe(d.Seconds())
	}
}

// StoreNodeError returns the function a store of backend calls with a
// node's address each time an operation fails there (nil with a nil m).
// Nodes are the deployment's own, so the series are bounded.
func (m *Metrics) StoreNodeError(backend string) func(node string) {
	if m == nil {
		return nil
	}
	return func(node string) { m.nodeErrors.WithLabelValues(backend, node).Inc() }
}

// RegisterPool exports simpleapi_store_pool_connections{backend,state} for
// the connection pool of backend: stat returns the connections in use and
// idle at each scrape.
func (m *Metrics) RegisterPool(backend string, stat func() (inUse, idle int)) error {
	if m == nil {
		return nil
	}
	for _, state := range []string{"in_use", "idle"} {
		err := m.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "store_pool_connections",
			Help:        "Connections of a networked store's pool, by backend and state (in_use, idle).",
			ConstLabels: prometheus.Labels{"backend": backend, "state": state},
		}, func() float64 {
			inUse, idle := stat()
			if state == "in_use" {
				return float64(inUse)
			}
			return float64(idle)
		}))
		if err != nil {
			return err
		}
	}
	return nil
}

// RegisterPoolTimeouts exports simpleapi_store_pool_timeouts_total{backend}:
// the operations that found no free connection in backend's pool in time,
// as timeouts reports at each scrape (a count since start).
func (m *Metrics) RegisterPoolTimeouts(backend string, timeouts func() uint64) error {
	if m == nil {
		return nil
	}
	return m.registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace, Name: "store_pool_timeouts_total",
		Help:        "Operations of a networked store that waited for a free pooled connection in vain, by backend.",
		ConstLabels: prometheus.Labels{"backend": backend},
	}, func() float64 { return float64(timeouts()) }))
}

// RegisterActiveSessions exports simpleapi_active_sessions, the number of
// sessions count reports at each scrape (NaN when it fails). It fails if
// the registry already has the gauge.
func (m *Metrics) RegisterActiveSessions(count func(context.Context) (int, error)) error {
	if m == nil {
		return nil
	}
	return m.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "active_sessions",
		Help: "Sessions kept by the session store, expired ones not yet swept included.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
}

// RegisterBuildInfo exports simpleapi_build_info, a gauge of 1 whose
// labels say which build is running (version, VCS revision, Go version),
// so dashboards can show and join on it. It fails if the registry already
// has the gauge.
func (m *Metrics) RegisterBuildInfo(version, revision string) error {
	if m == nil {
		return nil
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels describe the running build.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return m.registry.Register(g)
}

// RegisterHashRefusals exports simpleapi_password_hash_refused_total: the
// logins and other password operations answered 503 at once because the
// wait for a hashing slot would have been too long (ARGON2_MAX_WAIT).
func (m *Metrics) RegisterHashRefusals(refused func() uint64) error {
	if m == nil {
		return nil
	}
	return m.registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace, Name: "password_hash_refused_total",
		Help: "Password operations refused at once because hashing was saturated (ARGON2_MAX_WAIT).",
	}, func() float64 { return float64(refused()) }))
}

// Method maps a request method to a label value: the standard methods as
// they are, anything else "other", so clients cannot create series at will.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
