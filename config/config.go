// Package config reads every setting of the service from the environment
// and from the flags of `simpleapi serve` (flags win) into one validated
// Config.
package config

import "time"

// Authentication modes (AUTH_TYPE).
const (
	AuthBasic      = "basic_auth"
	AuthSession    = "session_auth"
	AuthSessionExp = "session_exp_auth"
	AuthSessionDB  = "session_db_auth"
)

// Config is the whole configuration of one server process.
type Config struct {
	APIHost  string // API_HOST, default 0.0.0.0
	APIPort  int    // API_PORT, default 5000, 1..65535
	AuthType string // AUTH_TYPE
	DataDir  string // DATA_DIR, default ./data

	UserStore    string // USER_STORE: jsonfile (default)|postgres
	DatabaseURL  string // DATABASE_URL, needed by the postgres stores
	SessionStore string // SESSION_STORE: memory|jsonfile|redis|postgres; default from AuthType, "" in basic_auth
	RedisURL     string // REDIS_URL, one Redis server of the redis session store; also shares login limits

	// A Redis Cluster or a Sentinel-watched primary instead of REDIS_URL
	// (at most one of the three is set).
	RedisClusterAddrs   []string // REDIS_CLUSTER_ADDRS, comma-separated seed nodes host:port
	RedisSentinelAddrs  []string // REDIS_SENTINEL_ADDRS, comma-separated sentinels host:port
	RedisSentinelMaster string   // REDIS_SENTINEL_MASTER, the master's name the sentinels watch
	RedisPassword       string   // REDIS_PASSWORD, of the Cluster's nodes or the Sentinel's primary and replicas
	RedisKeyPrefix      string   // REDIS_KEY_PREFIX, starts every key; empty: the URL's key_prefix, else simpleapi:

	SessionName        string        // SESSION_NAME, default _my_session_id
	SessionSecrets     [][]byte      // SESSION_SECRET, comma-separated, each >= 32 bytes; empty: generated into DATA_DIR
	SessionDuration    time.Duration // SESSION_DURATION seconds, default 86400, 0 = none
	SessionIdleTimeout time.Duration // SESSION_IDLE_TIMEOUT seconds, default 1800, 0 = none
	SessionRotate      time.Duration // SESSION_ROTATE_INTERVAL seconds, default 900, 0 = never: a token older than this is replaced
	SessionRotateGrace time.Duration // SESSION_ROTATE_GRACE seconds, default 60: how long a replaced token still works
	CookieSecure       string        // COOKIE_SECURE: true|false|auto (default auto)
	CookieSameSite     string        // COOKIE_SAMESITE: lax (default)|strict|none
	TrustedProxies     []string      // TRUSTED_PROXIES, comma-separated IPs or CIDRs
	CORSOrigins        []string      // CORS_ORIGINS, comma-separated origins; empty: "*"

	ReauthMaxAge     time.Duration // REAUTH_MAX_AGE seconds, default 300, at least 1: how long an authentication counts as recent
	MFARequiredRoles []string      // MFA_REQUIRED_ROLES, comma-separated roles that must enrol a second factor; empty: none

	// Passkeys (WebAuthn). A passkey is bound to the relying-party id, a
	// domain, and is only offered to pages of the listed origins.
	WebAuthnRPID    string   // WEBAUTHN_RP_ID, default localhost
	WebAuthnOrigins []string // WEBAUTHN_ORIGINS, comma-separated; default: see check

	PasswordMinLength int   // PASSWORD_MIN_LENGTH, default 8, 1..128
	AuthGenericErrors bool  // AUTH_GENERIC_ERRORS, default false
	MaxBodyBytes      int64 // MAX_BODY_BYTES, default 1 MiB

	Argon2        Argon2Params  // ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM
	Argon2MaxWait time.Duration // ARGON2_MAX_WAIT seconds, default 2, 0 = unbounded

	Login LoginLimits // LOGIN_*

	AdminEmail    string // ADMIN_EMAIL
	AdminPassword string // ADMIN_PASSWORD

	LogLevel  string // LOG_LEVEL: debug|info (default)|warn|error
	LogFormat string // LOG_FORMAT: text (default)|json

	MetricsAddr     string        // METRICS_ADDR, empty: off
	TLSCertFile     string        // TLS_CERT_FILE
	TLSKeyFile      string        // TLS_KEY_FILE
	HSTSMaxAge      time.Duration // HSTS_MAX_AGE seconds, default one year, 0 = no Strict-Transport-Security
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT seconds, default 15

	fromFlag map[string]bool // the settings a flag gave, by variable; nil when none
}

// Argon2Params are the argon2id cost parameters. The defaults are OWASP's
// (m=19456 KiB, t=2, p=1); tests lower them through the same settings.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// LoginLimits are the login throttling settings (docs/security.md, docs/configuration.md).
type LoginLimits struct {
	MaxFailures        int           // LOGIN_MAX_FAILURES, default 5: failures before delays start
	BaseDelay          time.Duration // LOGIN_BASE_DELAY seconds, default 1
	MaxDelay           time.Duration // LOGIN_MAX_DELAY seconds, default 900
	MaxFailuresPerHour int           // LOGIN_MAX_FAILURES_PER_HOUR, default 100
	IPPerMinute        int           // LOGIN_IP_PER_MINUTE, default 30
	IPBurst            int           // LOGIN_IP_BURST, default 10
	IPv6PrefixBits     int           // LOGIN_IPV6_PREFIX, default 64, 1..128: an IPv6 client address counts as its prefix of this length
}

// Stores (USER_STORE, SESSION_STORE).
const (
	StoreMemory   = "memory"
	StoreJSONFile = "jsonfile"
	StoreRedis    = "redis"
	StorePostgres = "postgres"
)

// SharedSessions reports whether sessions live in a store that several
// instances share, so that every instance must sign cookies alike.
func (c Config) SharedSessions() bool {
	return c.SessionStore == StoreRedis || c.SessionStore == StorePostgres
}

// RedisSet reports whether a Redis is configured (REDIS_URL,
// REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS).
func (c Config) RedisSet() bool {
	return c.RedisURL != "" || len(c.RedisClusterAddrs) > 0 || len(c.RedisSentinelAddrs) > 0
}

// SessionMode reports whether AuthType is one of the session modes.
func (c Config) SessionMode() bool { return c.AuthType != AuthBasic }
