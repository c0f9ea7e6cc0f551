package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setting is one configuration value: an environment variable and the flag
// of the same name.
type setting struct {
	name   string // environment variable
	def    string // default as text; "" when there is none
	arg    string // value placeholder in Usage; "" for booleans
	help   string
	secret bool // never echoed in errors
	// set parses v (the flag, else the environment, else def) into c. Its
	// error text says what is allowed.
	set func(c *Config, v string) error
}

// flagName is the flag of an environment variable: API_PORT -> api-port.
func flagName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// minHSTSMaxAge is the shortest Strict-Transport-Security max-age
// allowed: browsers' preload lists and OWASP ask for a year.
const minHSTSMaxAge = 365 * 24 * time.Hour

// maxSeconds keeps seconds*time.Second from overflowing.
const maxSeconds = math.MaxInt64 / int64(time.Second)

var settings = []setting{
	{name: "API_HOST", def: "0.0.0.0", arg: "HOST", help: "address the server listens on: an IP address or a host name",
		set: setAPIHost},
	{name: "API_PORT", def: "5000", arg: "PORT", help: "port the server listens on, 1..65535",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return errors.New("want a port number 1-65535")
			}
			c.APIPort = n
			return nil
		}},
	{name: "AUTH_TYPE", def: AuthSessionDB, arg: "MODE",
		help: "basic_auth, session_auth, session_exp_auth or session_db_auth",
		set: func(c *Config, v string) (err error) {
			c.AuthType, err = oneOf(v, AuthBasic, AuthSession, AuthSessionExp, AuthSessionDB)
			return err
		}},
	{name: "DATA_DIR", def: "./data", arg: "DIR", help: "directory of the data files (the server creates it)",
		set: setDataDir},
	{name: "USER_STORE", def: StoreJSONFile, arg: "STORE", help: "where users are kept: jsonfile or postgres",
		set: func(c *Config, v string) (err error) {
			c.UserStore, err = oneOf(v, StoreJSONFile, StorePostgres)
			return err
		}},
	{name: "DATABASE_URL", arg: "URL", secret: true,
		help: "PostgreSQL URL (postgres://user@host:5432/db) of the postgres stores",
		set: func(c *Config, v string) error {
			if v != "" && !isURL(v, "postgres", "postgresql") {
				return errors.New("want a postgres:// or postgresql:// URL")
			}
			c.DatabaseURL = v
			return nil
		}},
	{name: "SESSION_STORE", arg: "STORE",
		help: "where sessions are kept: memory, jsonfile, redis or postgres; empty: memory for session_auth " +
			"and session_exp_auth, jsonfile for session_db_auth",
		set: func(c *Config, v string) (err error) {
			if v == "" {
				return nil // chosen by check from AUTH_TYPE
			}
			c.SessionStore, err = oneOf(v, StoreMemory, StoreJSONFile, StoreRedis, StorePostgres)
			return err
		}},
	{name: "REDIS_URL", arg: "URL", secret: true,
		help: "Redis URL (redis://host:6379/0) of the redis session store; when set, login limits are shared there too",
		set: func(c *Config, v string) error {
			if v != "" && !isURL(v, "redis", "rediss") {
				return errors.New("want a redis:// or rediss:// URL")
			}
			c.RedisURL = v
			return nil
		}},
	{name: "REDIS_CLUSTER_ADDRS", arg: "ADDRS",
		help: "comma-separated seed nodes (host:port) of a Redis Cluster, instead of REDIS_URL",
		set:  func(c *Config, v string) (err error) { c.RedisClusterAddrs, err = hostPorts(v); return err }},
	{name: "REDIS_SENTINEL_ADDRS", arg: "ADDRS",
		help: "comma-separated sentinels (host:port) that watch the Redis primary, instead of REDIS_URL",
		set:  func(c *Config, v string) (err error) { c.RedisSentinelAddrs, err = hostPorts(v); return err }},
	{name: "REDIS_SENTINEL_MASTER", arg: "NAME", help: "the name the sentinels know the Redis primary by",
		set: func(c *Config, v string) error { c.RedisSentinelMaster = v; return nil }},
	{name: "REDIS_PASSWORD", arg: "PASSWORD", secret: true,
		help: "password of the Redis Cluster's nodes or of the Sentinel's primary (REDIS_URL carries its own)",
		set:  func(c *Config, v string) error { c.RedisPassword = v; return nil }},
	{name: "REDIS_KEY_PREFIX", arg: "PREFIX",
		help: "starts every Redis key, so that deployments can share a Redis; empty: simpleapi: " +
			"(or REDIS_URL's key_prefix)",
		set: func(c *Config, v string) error {
			// A brace would start a hash tag and move keys to other slots.
			if strings.ContainsAny(v, "{}") {
				return errors.New("want no { or }: Redis Cluster reads them as a hash tag")
			}
			c.RedisKeyPrefix = v
			return nil
		}},

	{name: "SESSION_NAME", def: "_my_session_id", arg: "NAME", help: "session cookie name",
		set: func(c *Config, v string) error {
			if !isCookieName(v) {
				return errors.New("want a cookie name: letters, digits and !#$%&'*+-.^_`|~")
			}
			c.SessionName = v
			return nil
		}},
	{name: "SESSION_SECRET", arg: "SECRETS", secret: true,
		help: "comma-separated cookie signing secrets, each at least 32 bytes, the first signs; " +
			"empty: generated into DATA_DIR (prefer the environment: flags show in ps)",
		set: setSecrets},
	{name: "SESSION_DURATION", def: "86400", arg: "SECONDS", help: "absolute session lifetime, 0 = none",
		set: func(c *Config, v string) (err error) { c.SessionDuration, err = seconds(v); return err }},
	{name: "SESSION_IDLE_TIMEOUT", def: "1800", arg: "SECONDS", help: "session idle timeout, 0 = none",
		set: func(c *Config, v string) (err error) { c.SessionIdleTimeout, err = seconds(v); return err }},
	{name: "SESSION_ROTATE_INTERVAL", def: "900", arg: "SECONDS",
		help: "replace a session's token once it is this old, 0 = never",
		set:  func(c *Config, v string) (err error) { c.SessionRotate, err = seconds(v); return err }},
	{name: "SESSION_ROTATE_GRACE", def: "60", arg: "SECONDS",
		help: "how long a replaced session token still works, for requests already in flight; " +
			"at least 1 and less than SESSION_ROTATE_INTERVAL (unless that is 0)",
		set: func(c *Config, v string) (err error) { c.SessionRotateGrace, err = seconds(v); return err }},
	{name: "COOKIE_SECURE", def: "auto", arg: "WHEN",
		help: "Secure cookie attribute: true, false or auto (when the request came over https)",
		set: func(c *Config, v string) error {
			if v == "auto" {
				c.CookieSecure = v
				return nil
			}
			// Any spelling strconv.ParseBool knows, stored as "true"/"false".
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true, false or auto")
			}
			c.CookieSecure = strconv.FormatBool(b)
			return nil
		}},
	{name: "COOKIE_SAMESITE", def: "lax", arg: "MODE", help: "SameSite cookie attribute: lax, strict or none",
		set: func(c *Config, v string) (err error) {
			c.CookieSameSite, err = oneOf(v, "lax", "strict", "none")
			return err
		}},
	{name: "TRUSTED_PROXIES", arg: "LIST", help: "comma-separated IPs or CIDRs of reverse proxies to trust",
		set: setTrustedProxies},
	{name: "CORS_ORIGINS", arg: "LIST",
		help: "comma-separated origins (scheme://host[:port]) allowed with credentials; empty or *: any, without credentials",
		set:  setCORSOrigins},

	{name: "REAUTH_MAX_AGE", def: "300", arg: "SECONDS",
		help: "how long a sign-in or re-authentication counts as recent: changing the password, a second factor or " +
			"a role, deleting a user and ending another user's sessions need one this recent, at least 1",
		set: func(c *Config, v string) (err error) {
			c.ReauthMaxAge, err = seconds(v)
			if err == nil && c.ReauthMaxAge < time.Second {
				err = errors.New("want a whole number of seconds, 1 or more")
			}
			return err
		}},
	{name: "MFA_REQUIRED_ROLES", arg: "ROLES",
		help: "comma-separated roles (admin, user) whose accounts must enrol a second factor before they can use " +
			"anything else; empty: none",
		set: setMFARequiredRoles},
	{name: "WEBAUTHN_RP_ID", def: "localhost", arg: "DOMAIN",
		help: "relying-party id of passkeys: the domain the account page is served from (or a parent domain of it); " +
			"passkeys registered under one id do not work under another",
		set: setWebAuthnRPID},
	{name: "WEBAUTHN_ORIGINS", arg: "LIST",
		help: "comma-separated origins (scheme://host[:port]) the account page is served from, each on WEBAUTHN_RP_ID " +
			"or a subdomain of it; empty: http://localhost:API_PORT (https with TLS_CERT_FILE) when WEBAUTHN_RP_ID is " +
			"localhost, else https://WEBAUTHN_RP_ID",
		set: setWebAuthnOrigins},

	{name: "PASSWORD_MIN_LENGTH", def: "8", arg: "N", help: "minimum password length in characters, 1..128",
		set: func(c *Config, v string) (err error) { c.PasswordMinLength, err = intIn(v, 1, 128); return err }},
	{name: "AUTH_GENERIC_ERRORS", def: "false",
		help: "answer unknown email and wrong password alike (401 wrong email or password)",
		set:  func(c *Config, v string) (err error) { c.AuthGenericErrors, err = boolean(v); return err }},
	{name: "MAX_BODY_BYTES", def: "1048576", arg: "BYTES", help: "largest request body accepted",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return errors.New("want an integer of at least 1")
			}
			c.MaxBodyBytes = n
			return nil
		}},

	{name: "ARGON2_MEMORY_KIB", def: "19456", arg: "KIB", help: "argon2id memory cost, 8..4194304",
		set: func(c *Config, v string) error {
			n, err := intIn(v, 8, 4194304)
			c.Argon2.MemoryKiB = uint32(n)
			return err
		}},
	{name: "ARGON2_ITERATIONS", def: "2", arg: "N", help: "argon2id time cost, 1..100",
		set: func(c *Config, v string) error {
			n, err := intIn(v, 1, 100)
			c.Argon2.Iterations = uint32(n)
			return err
		}},
	{name: "ARGON2_PARALLELISM", def: "1", arg: "N", help: "argon2id parallelism, 1..255",
		set: func(c *Config, v string) error {
			n, err := intIn(v, 1, 255)
			c.Argon2.Parallelism = uint8(n)
			return err
		}},

	{name: "ARGON2_MAX_WAIT", def: "2", arg: "SECONDS",
		help: "longest wait for a free hashing slot; longer expected waits answer 503 at once (0 = unbounded)",
		set:  func(c *Config, v string) (err error) { c.Argon2MaxWait, err = seconds(v); return err }},

	{name: "LOGIN_MAX_FAILURES", def: "5", arg: "N", help: "consecutive failures of an account before delays start",
		set: func(c *Config, v string) (err error) { c.Login.MaxFailures, err = atLeast(v, 0); return err }},
	{name: "LOGIN_BASE_DELAY", def: "1", arg: "SECONDS", help: "first delay, doubled per further failure",
		set: func(c *Config, v string) (err error) { c.Login.BaseDelay, err = seconds(v); return err }},
	{name: "LOGIN_MAX_DELAY", def: "900", arg: "SECONDS", help: "longest delay",
		set: func(c *Config, v string) (err error) { c.Login.MaxDelay, err = seconds(v); return err }},
	{name: "LOGIN_MAX_FAILURES_PER_HOUR", def: "100", arg: "N", help: "failed attempts per account and hour",
		set: func(c *Config, v string) (err error) {
			c.Login.MaxFailuresPerHour, err = atLeast(v, 1)
			return err
		}},
	{name: "LOGIN_IP_PER_MINUTE", def: "30", arg: "N", help: "login attempts per client address and minute",
		set: func(c *Config, v string) (err error) { c.Login.IPPerMinute, err = atLeast(v, 1); return err }},
	{name: "LOGIN_IP_BURST", def: "10", arg: "N", help: "login attempts per client address in a burst",
		set: func(c *Config, v string) (err error) { c.Login.IPBurst, err = atLeast(v, 1); return err }},
	{name: "LOGIN_IPV6_PREFIX", def: "64", arg: "BITS",
		help: "IPv6 clients are limited per prefix of this many bits (an IPv4-mapped address as its IPv4 address), 1..128",
		set:  func(c *Config, v string) (err error) { c.Login.IPv6PrefixBits, err = intIn(v, 1, 128); return err }},

	{name: "ADMIN_EMAIL", arg: "EMAIL", help: "create this user as admin at start-up (with ADMIN_PASSWORD)",
		set: func(c *Config, v string) error { c.AdminEmail = v; return nil }},
	{name: "ADMIN_PASSWORD", arg: "PASSWORD", secret: true,
		help: "password of ADMIN_EMAIL (prefer the environment: flags show in ps)",
		set:  func(c *Config, v string) error { c.AdminPassword = v; return nil }},

	{name: "LOG_LEVEL", def: "info", arg: "LEVEL", help: "debug, info, warn or error",
		set: func(c *Config, v string) (err error) {
			c.LogLevel, err = oneOf(v, "debug", "info", "warn", "error")
			return err
		}},
	{name: "LOG_FORMAT", def: "text", arg: "FORMAT", help: "text or json",
		set: func(c *Config, v string) (err error) { c.LogFormat, err = oneOf(v, "text", "json"); return err }},

	{name: "METRICS_ADDR", arg: "HOST:PORT", help: "address of the metrics listener; empty: off",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
					return errors.New("want host:port or :port")
				}
			}
			c.MetricsAddr = v
			return nil
		}},
	{name: "TLS_CERT_FILE", arg: "FILE", help: "serve TLS with this certificate (with TLS_KEY_FILE)",
		set: func(c *Config, v string) error { c.TLSCertFile = v; return nil }},
	{name: "TLS_KEY_FILE", arg: "FILE", help: "private key of TLS_CERT_FILE",
		set: func(c *Config, v string) error { c.TLSKeyFile = v; return nil }},
	{name: "HSTS_MAX_AGE", def: "31536000", arg: "SECONDS",
		help: "max-age of Strict-Transport-Security on https responses, at least 31536000 (a year); 0 = no header",
		set: func(c *Config, v string) (err error) {
			c.HSTSMaxAge, err = seconds(v)
			if err == nil && c.HSTSMaxAge != 0 && c.HSTSMaxAge < minHSTSMaxAge {
				err = errors.New("want 0 (off) or at least 31536000 seconds (a year)")
			}
			return err
		}},
	{name: "SHUTDOWN_TIMEOUT", def: "15", arg: "SECONDS", help: "how long to wait for requests at shutdown",
		set: func(c *Config, v string) (err error) { c.ShutdownTimeout, err = seconds(v); return err }},
}

// apply parses v (empty: the default) into c, or returns the *Error that
// names the setting: its flag when fromFlag, else its variable.
func (s setting) apply(c *Config, v string, fromFlag bool) error {
	if fromFlag {
		c.markFlag(s.name)
	}
	if v == "" {
		v = s.def
	}
	if err := s.set(c, v); err != nil {
		shown := v
		if s.secret {
			shown = Redact(v)
		}
		return c.Invalid(s.name, shown, err.Error())
	}
	return nil
}

// check validates settings that depend on each other, and fills in the
// session store AUTH_TYPE implies.
func (c *Config) check() error {
	if c.SessionStore == "" {
		switch c.AuthType {
		case AuthSession, AuthSessionExp:
			c.SessionStore = StoreMemory
		case AuthSessionDB:
			c.SessionStore = StoreJSONFile
		}
	}
	switch {
	case (c.UserStore == StorePostgres || c.SessionStore == StorePostgres) && c.DatabaseURL == "":
		return c.Invalid("DATABASE_URL", "", "want it set when USER_STORE or SESSION_STORE is postgres")
	case c.RedisURL != "" && len(c.RedisClusterAddrs) > 0:
		return c.Invalid("REDIS_CLUSTER_ADDRS", strings.Join(c.RedisClusterAddrs, ","),
			"want it empty when REDIS_URL is set (one Redis: a server, a Cluster or a Sentinel's primary)")
	case (c.RedisURL != "" || len(c.RedisClusterAddrs) > 0) && len(c.RedisSentinelAddrs) > 0:
		return c.Invalid("REDIS_SENTINEL_ADDRS", strings.Join(c.RedisSentinelAddrs, ","),
			"want it empty when REDIS_URL or REDIS_CLUSTER_ADDRS is set (one Redis: a server, a Cluster or a Sentinel's primary)")
	case len(c.RedisSentinelAddrs) > 0 && c.RedisSentinelMaster == "":
		return c.Invalid("REDIS_SENTINEL_MASTER", "", "want it set when REDIS_SENTINEL_ADDRS is set")
	case len(c.RedisSentinelAddrs) == 0 && c.RedisSentinelMaster != "":
		return c.Invalid("REDIS_SENTINEL_ADDRS", "", "want it set when REDIS_SENTINEL_MASTER is set")
	case c.RedisURL != "" && c.RedisPassword != "":
		return c.Invalid("REDIS_PASSWORD", Redact(c.RedisPassword),
			"want it empty when REDIS_URL is set (the URL carries its password)")
	case c.SessionStore == StoreRedis && !c.RedisSet():
		return c.Invalid("REDIS_URL", "", "want it (or REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS) set when SESSION_STORE is redis")
	case c.SharedSessions() && len(c.SessionSecrets) == 0:
		// Each instance would otherwise generate its own, and cookies
		// signed by one would be refused by the others.
		return c.Invalid("SESSION_SECRET", "",
			"want it set, the same on every instance, when SESSION_STORE is "+c.SessionStore)
	case c.CookieSameSite == "none" && c.CookieSecure != "true":
		// Browsers drop SameSite=None cookies that are not Secure.
		return c.Invalid("COOKIE_SAMESITE", c.CookieSameSite,
			"want lax or strict unless COOKIE_SECURE=true (browsers reject SameSite=None without Secure)")
	case c.SessionRotate != 0 && (c.SessionRotateGrace < time.Second || c.SessionRotateGrace >= c.SessionRotate):
		// A grace of 0 would fail requests already in flight with the
		// replaced token; one as long as the interval would keep a copied
		// token working as long as the current one.
		return c.Invalid("SESSION_ROTATE_GRACE", strconv.FormatInt(int64(c.SessionRotateGrace/time.Second), 10),
			fmt.Sprintf("want at least 1 second, and less than SESSION_ROTATE_INTERVAL (%d)",
				int64(c.SessionRotate/time.Second)))
	case c.Argon2.MemoryKiB < 8*uint32(c.Argon2.Parallelism):
		return c.Invalid("ARGON2_MEMORY_KIB", strconv.FormatUint(uint64(c.Argon2.MemoryKiB), 10),
			fmt.Sprintf("want at least 8 × ARGON2_PARALLELISM (%d)", 8*uint32(c.Argon2.Parallelism)))
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return c.Invalid("TLS_KEY_FILE", "", "want it set when TLS_CERT_FILE is set")
	case c.TLSKeyFile != "" && c.TLSCertFile == "":
		return c.Invalid("TLS_CERT_FILE", "", "want it set when TLS_KEY_FILE is set")
	case len(c.MFARequiredRoles) > 0 && !c.SessionMode():
		// Basic authentication cannot carry a second factor: those
		// accounts could never enrol, nor use anything.
		return c.Invalid("MFA_REQUIRED_ROLES", strings.Join(c.MFARequiredRoles, ","),
			"want it empty when AUTH_TYPE is basic_auth (a second factor needs a session mode)")
	case c.AdminEmail != "" && c.AdminPassword == "":
		return c.Invalid("ADMIN_PASSWORD", "", "want it set when ADMIN_EMAIL is set")
	case c.AdminPassword != "" && c.AdminEmail == "":
		return c.Invalid("ADMIN_EMAIL", "", "want it set when ADMIN_PASSWORD is set")
	}
	return c.checkWebAuthn()
}

// checkWebAuthn fills in the default passkey origins and checks that every
// origin is one a browser would let use passkeys of WEBAUTHN_RP_ID: the
// RP id itself or a subdomain of it, over https (plain http only for
// localhost, which browsers treat as secure).
func (c *Config) checkWebAuthn() error {
	if len(c.WebAuthnOrigins) == 0 {
		c.WebAuthnOrigins = []string{c.defaultWebAuthnOrigin()}
	}
	for i, o := range c.WebAuthnOrigins {
		u, _ := url.Parse(o) // setWebAuthnOrigins checked it
		host := u.Hostname()
		if host != c.WebAuthnRPID && !strings.HasSuffix(host, "."+c.WebAuthnRPID) {
			return c.Invalid("WEBAUTHN_ORIGINS", strings.Join(c.WebAuthnOrigins, ","),
				fmt.Sprintf("want origins on WEBAUTHN_RP_ID (%s) or a subdomain of it: entry %d is not", c.WebAuthnRPID, i+1))
		}
		if u.Scheme != "https" && !isLocalhost(host) {
			return c.Invalid("WEBAUTHN_ORIGINS", strings.Join(c.WebAuthnOrigins, ","),
				fmt.Sprintf("want https origins (browsers allow passkeys over http only on localhost): entry %d is http", i+1))
		}
	}
	return nil
}

// defaultWebAuthnOrigin is the origin of the account page when none is
// configured: a local server as `go run .` starts it, or the RP id itself
// over https (behind a reverse proxy on the standard port).
func (c *Config) defaultWebAuthnOrigin() string {
	if !isLocalhost(c.WebAuthnRPID) {
		return "https://" + c.WebAuthnRPID
	}
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, c.WebAuthnRPID, c.APIPort)
}

// isLocalhost reports whether host is localhost or one of its subdomains,
// which browsers treat as a secure context even over http.
func isLocalhost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

func intIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
	}
	return n, nil
}

func atLeast(v string, lo int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return 0, fmt.Errorf("want an integer of at least %d", lo)
	}
	return n, nil
}

func seconds(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxSeconds {
		return 0, errors.New("want a whole number of seconds, 0 or more")
	}
	return time.Duration(n) * time.Second, nil
}

func boolean(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

func oneOf(v string, words ...string) (string, error) {
	for _, w := range words {
		if v == w {
			return v, nil
		}
	}
	return "", fmt.Errorf("want one of %s", strings.Join(words, ", "))
}

// list splits a comma-separated value into trimmed entries; "" is no
// entries. An empty entry (",," or a trailing comma) is an error so typos
// don't pass silently.
func list(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("entry %d of the comma-separated list is empty", i+1)
		}
	}
	return parts, nil
}

// setAPIHost accepts an IP address (without brackets or zone) or a host
// name. Something shaped like an IPv4 address that is not one, such as
// 256.1.1.1, is refused rather than looked up as a name.
func setAPIHost(c *Config, v string) error {
	const want = "want an IP address such as 0.0.0.0, 127.0.0.1 or ::, or a host name such as localhost"
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Zone() != "" {
			return errors.New(want + " (no %zone)")
		}
		c.APIHost = v
		return nil
	}
	if strings.Trim(v, "0123456789.") == "" || strings.Contains(v, ":") || !isHostname(v) {
		return errors.New(want)
	}
	c.APIHost = v
	return nil
}

// isHostname reports whether s is an RFC 1123 host name: dot-separated
// labels of letters, digits and inner hyphens, 1–63 bytes each, 253 in all.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
				return false
			}
		}
	}
	return true
}

// setDataDir accepts a directory this process can write, or a path that
// does not exist yet under one (the server creates it). The check runs
// here so that a read-only or root-owned mount stops start-up with a fix,
// before anything listens.
func setDataDir(c *Config, v string) error {
	existing := filepath.Clean(v)
	for {
		_, err := os.Stat(existing)
		if err == nil {
			break
		}
		if errors.Is(err, os.ErrPermission) {
			return notWritable(existing, err)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("want a usable directory: %v", err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	fi, err := os.Stat(existing)
	if err != nil {
		return fmt.Errorf("want a usable directory: %v", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("want a directory, and %s is not one", existing)
	}
	if err := unix.Access(existing, unix.W_OK|unix.X_OK); err != nil {
		owner := ""
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			owner = fmt.Sprintf(", owned by uid %d with mode %s", st.Uid, fi.Mode().Perm())
		}
		return notWritable(existing, fmt.Errorf("%v%s", err, owner))
	}
	c.DataDir = v
	return nil
}

// notWritable is the error for a directory this process cannot use, with
// the fix: most often a root-owned bind mount in the container, whose
// user is uid 65532.
func notWritable(dir string, err error) error {
	uid := os.Getuid()
	return fmt.Errorf("want a directory writable by this process (uid %d), and %s is not (%v); "+
		"fix it with `chown -R %d %s` (in Docker, on the host directory you mount, or mount a named volume instead)",
		uid, dir, err, uid, dir)
}

func setSecrets(c *Config, v string) error {
	entries, err := list(v)
	if err != nil {
		return fmt.Errorf("want comma-separated secrets of at least 32 bytes each: %v", err)
	}
	c.SessionSecrets = nil
	for i, e := range entries {
		if len(e) < 32 {
			return fmt.Errorf("want comma-separated secrets of at least 32 bytes each: secret %d has %d bytes", i+1, len(e))
		}
		c.SessionSecrets = append(c.SessionSecrets, []byte(e))
	}
	return nil
}

func setMFARequiredRoles(c *Config, v string) error {
	const want = "want comma-separated roles: admin, user"
	entries, err := list(v)
	if err != nil {
		return fmt.Errorf("%s: %v", want, err)
	}
	for i, e := range entries {
		if e != "admin" && e != "user" {
			return fmt.Errorf("%s: entry %d is not a role", want, i+1)
		}
	}
	c.MFARequiredRoles = entries
	return nil
}

// setWebAuthnRPID accepts a domain name in lower case, as browsers compare
// it; an IP address cannot be an RP id.
func setWebAuthnRPID(c *Config, v string) error {
	const want = "want a domain name in lower case, such as localhost or example.com (not an IP address)"
	if _, err := netip.ParseAddr(v); err == nil || !isHostname(v) || strings.HasSuffix(v, ".") || strings.ToLower(v) != v {
		return errors.New(want)
	}
	c.WebAuthnRPID = v
	return nil
}

func setWebAuthnOrigins(c *Config, v string) error {
	const want = "want comma-separated origins like https://example.com:8443 (http or https, no path)"
	entries, err := list(v)
	if err != nil {
		return fmt.Errorf("%s: %v", want, err)
	}
	for i, e := range entries {
		if !isOrigin(e) {
			return fmt.Errorf("%s: entry %d is not an origin", want, i+1)
		}
		// Browsers send the origin lower-cased; such an entry would never match.
		if strings.ToLower(e) != e {
			return fmt.Errorf("%s: entry %d is not lower-case", want, i+1)
		}
	}
	c.WebAuthnOrigins = entries
	return nil
}

func setTrustedProxies(c *Config, v string) error {
	const want = "want comma-separated IP addresses or CIDRs"
	entries, err := list(v)
	if err != nil {
		return fmt.Errorf("%s: %v", want, err)
	}
	for i, e := range entries {
		if strings.Contains(e, "/") {
			if _, err := netip.ParsePrefix(e); err != nil {
				return fmt.Errorf("%s: entry %d is not a CIDR", want, i+1)
			}
			continue
		}
		// Zones are refused: gin parses proxies with net.ParseIP.
		if a, err := netip.ParseAddr(e); err != nil || a.Zone() != "" {
			return fmt.Errorf("%s: entry %d is not an IP address", want, i+1)
		}
	}
	c.TrustedProxies = entries
	return nil
}

func setCORSOrigins(c *Config, v string) error {
	const want = "want * or comma-separated origins like https://example.com:8443 (http or https, no path)"
	entries, err := list(v)
	if err != nil {
		return fmt.Errorf("%s: %v", want, err)
	}
	// A lone "*" is the same as unset; keep one representation of it.
	if len(entries) == 1 && entries[0] == "*" {
		c.CORSOrigins = nil
		return nil
	}
	for i, e := range entries {
		if e == "*" {
			return fmt.Errorf("%s: * cannot be combined with origins", want)
		}
		if !isOrigin(e) {
			return fmt.Errorf("%s: entry %d is not an origin", want, i+1)
		}
		// Browsers send scheme and host lower-cased; such an entry would never match.
		if strings.ToLower(e) != e {
			return fmt.Errorf("%s: entry %d is not lower-case", want, i+1)
		}
	}
	c.CORSOrigins = entries
	return nil
}

// isURL reports whether s is a URL with one of schemes and a host.
// hostPorts reads a comma-separated list of host:port addresses; empty
// is none.
func hostPorts(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	addrs := strings.Split(v, ",")
	for i, a := range addrs {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("want comma-separated host:port addresses: entry %d is not one", i+1)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("want comma-separated host:port addresses: entry %d has no port 1-65535", i+1)
		}
		addrs[i] = a
	}
	return addrs, nil
}

func isURL(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return true
		}
	}
	return false
}

// isOrigin reports whether s is a browser origin: scheme://host[:port].
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if u.Host == "" || u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return false
	}
	if p := u.Port(); p != "" {
		if _, err := intIn(p, 1, 65535); err != nil {
			return false
		}
	}
	return true
}

// isCookieName reports whether s is an RFC 6265 cookie-name (an RFC 2616
// token).
func isCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, b) >= 0 {
			return false
		}
	}
	return true
}
