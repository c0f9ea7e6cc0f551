package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// env returns a getenv over a fixed map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const (
	secretA = "0123456789abcdef0123456789abcdef" // 32 bytes
	secretB = "fedcba9876543210fedcba9876543210-second"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(nil))
	require.NoError(t, err)

	want := Config{
		APIHost:            "0.0.0.0",
		APIPort:            5000,
		AuthType:           AuthSessionDB,
		DataDir:            "./data",
		UserStore:          StoreJSONFile,
		SessionStore:       StoreJSONFile,
		SessionName:        "_my_session_id",
		SessionDuration:    86400 * time.Second,
		SessionIdleTimeout: 1800 * time.Second,
		SessionRotate:      900 * time.Second,
		SessionRotateGrace: 60 * time.Second,
		CookieSecure:       "auto",
		CookieSameSite:     "lax",
		ReauthMaxAge:       300 * time.Second,
		WebAuthnRPID:       "localhost",
		WebAuthnOrigins:    []string{"http://localhost:5000"},
		PasswordMinLength:  8,
		MaxBodyBytes:       1 << 20,
		Argon2:             Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1},
		Argon2MaxWait:      2 * time.Second,
		Login: LoginLimits{
			MaxFailures:        5,
			BaseDelay:          time.Second,
			MaxDelay:           900 * time.Second,
			MaxFailuresPerHour: 100,
			IPPerMinute:        30,
			IPBurst:            10,
			IPv6PrefixBits:     64,
		},
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 15 * time.Second,
		HSTSMaxAge:      365 * 24 * time.Hour,
	}
	assert.Equal(t, want, c)
	assert.True(t, c.SessionMode())
}

func TestLoadEnv(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "simpleapi")
	c, err := Load(nil, env(map[string]string{
		"API_HOST":                    "127.0.0.1",
		"API_PORT":                    "8080",
		"AUTH_TYPE":                   "basic_auth",
		"DATA_DIR":                    dataDir,
		"SESSION_NAME":                "__Host-sid",
		"SESSION_SECRET":              secretA + " , " + secretB,
		"SESSION_DURATION":            "0",
		"SESSION_IDLE_TIMEOUT":        "60",
		"SESSION_ROTATE_INTERVAL":     "0",
		"SESSION_ROTATE_GRACE":        "5",
		"COOKIE_SECURE":               "1",
		"COOKIE_SAMESITE":             "none",
		"TRUSTED_PROXIES":             "10.0.0.0/8, 192.168.1.1,::1,fd00::/8",
		"CORS_ORIGINS":                "https://app.example.com,http://localhost:3000",
		"PASSWORD_MIN_LENGTH":         "12",
		"AUTH_GENERIC_ERRORS":         "true",
		"MAX_BODY_BYTES":              "4096",
		"ARGON2_MEMORY_KIB":           "64",
		"ARGON2_ITERATIONS":           "1",
		"ARGON2_PARALLELISM":          "2",
		"LOGIN_MAX_FAILURES":          "0",
		"LOGIN_BASE_DELAY":            "2",
		"LOGIN_MAX_DELAY":             "60",
		"LOGIN_MAX_FAILURES_PER_HOUR": "20",
		"LOGIN_IP_PER_MINUTE":         "5",
		"LOGIN_IP_BURST":              "3",
		"LOGIN_IPV6_PREFIX":           "56",
		"ADMIN_EMAIL":                 "admin@example.com",
		"ADMIN_PASSWORD":              "correct horse battery staple",
		"LOG_LEVEL":                   "debug",
		"LOG_FORMAT":                  "json",
		"METRICS_ADDR":                "127.0.0.1:9090",
		"TLS_CERT_FILE":               "cert.pem",
		"TLS_KEY_FILE":                "key.pem",
		"SHUTDOWN_TIMEOUT":            "0",
		"HSTS_MAX_AGE":                "0",
	}))
	require.NoError(t, err)

	assert.Equal(t, "127.0.0.1", c.APIHost)
	assert.Equal(t, 8080, c.APIPort)
	assert.Equal(t, AuthBasic, c.AuthType)
	assert.False(t, c.SessionMode())
	assert.Equal(t, dataDir, c.DataDir)
	assert.Equal(t, "__Host-sid", c.SessionName)
	assert.Equal(t, [][]byte{[]byte(secretA), []byte(secretB)}, c.SessionSecrets)
	assert.Zero(t, c.SessionDuration)
	assert.Equal(t, time.Minute, c.SessionIdleTimeout)
	assert.Zero(t, c.SessionRotate, "0: tokens are never rotated")
	assert.Equal(t, 5*time.Second, c.SessionRotateGrace)
	assert.Equal(t, "true", c.CookieSecure, "ParseBool spellings are normalised")
	assert.Equal(t, "none", c.CookieSameSite)
	assert.Equal(t, []string{"10.0.0.0/8", "192.168.1.1", "::1", "fd00::/8"}, c.TrustedProxies)
	assert.Equal(t, []string{"https://app.example.com", "http://localhost:3000"}, c.CORSOrigins)
	assert.Equal(t, 12, c.PasswordMinLength)
	assert.True(t, c.AuthGenericErrors)
	assert.Equal(t, int64(4096), c.MaxBodyBytes)
	assert.Equal(t, Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 2}, c.Argon2)
	assert.Equal(t, LoginLimits{
		MaxFailures:        0,
		BaseDelay:          2 * time.Second,
		MaxDelay:           time.Minute,
		MaxFailuresPerHour: 20,
		IPPerMinute:        5,
		IPBurst:            3,
		IPv6PrefixBits:     56,
	}, c.Login)
	assert.Equal(t, "admin@example.com", c.AdminEmail)
	assert.Equal(t, "correct horse battery staple", c.AdminPassword)
	assert.Equal(t, "debug", c.LogLevel)
	assert.Equal(t, "json", c.LogFormat)
	assert.Equal(t, "127.0.0.1:9090", c.MetricsAddr)
	assert.Equal(t, "cert.pem", c.TLSCertFile)
	assert.Equal(t, "key.pem", c.TLSKeyFile)
	assert.Zero(t, c.ShutdownTimeout)
	assert.Zero(t, c.HSTSMaxAge, "0 turns Strict-Transport-Security off")
	assert.Equal(t, []string{"https://localhost:8080"}, c.WebAuthnOrigins, "the default origin follows the port and TLS")
}

func TestLoadFlagsWinOverEnv(t *testing.T) {
	flagDir := t.TempDir()
	e := env(map[string]string{
		"API_PORT":            "8080",
		"AUTH_TYPE":           "basic_auth",
		"SESSION_SECRET":      "too short", // overridden by the flag, so never checked
		"DATA_DIR":            tempFile(t), // overridden by the flag, so never checked
		"AUTH_GENERIC_ERRORS": "false",
		"CORS_ORIGINS":        "https://env.example",
		"LOG_LEVEL":           "warn",
	})
	c, err := Load([]string{
		"--api-port", "9000",
		"--auth-type=session_auth",
		"--session-secret=" + secretA,
		"-data-dir", flagDir,
		"--auth-generic-errors", // a boolean flag needs no value
		"--cors-origins=",       // empty: back to the default
	}, e)
	require.NoError(t, err)
	assert.Equal(t, 9000, c.APIPort)
	assert.Equal(t, AuthSession, c.AuthType)
	assert.Equal(t, [][]byte{[]byte(secretA)}, c.SessionSecrets)
	assert.Equal(t, flagDir, c.DataDir)
	assert.True(t, c.AuthGenericErrors)
	assert.Nil(t, c.CORSOrigins)
	assert.Equal(t, "warn", c.LogLevel, "env applies where no flag is given")

	c, err = Load([]string{"--auth-generic-errors=false"}, env(map[string]string{"AUTH_GENERIC_ERRORS": "true"}))
	require.NoError(t, err)
	assert.False(t, c.AuthGenericErrors)
}

func TestLoadSecondFactorSettings(t *testing.T) {
	c, err := Load([]string{"--reauth-max-age=60"}, env(map[string]string{"MFA_REQUIRED_ROLES": "admin, user"}))
	require.NoError(t, err)
	assert.Equal(t, time.Minute, c.ReauthMaxAge)
	assert.Equal(t, []string{"admin", "user"}, c.MFARequiredRoles)
}

func TestLoadCORSStar(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"CORS_ORIGINS": "*"}))
	require.NoError(t, err)
	assert.Nil(t, c.CORSOrigins, `"*" is the same as unset`)
}

func TestLoadBadValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		bad  string // variable named by the error
	}{
		{"unknown auth type", map[string]string{"AUTH_TYPE": "oauth"}, nil, "AUTH_TYPE"},
		{"auth type case", map[string]string{"AUTH_TYPE": "Basic_Auth"}, nil, "AUTH_TYPE"},
		{"negative duration", map[string]string{"SESSION_DURATION": "-1"}, nil, "SESSION_DURATION"},
		{"fractional duration", map[string]string{"SESSION_IDLE_TIMEOUT": "1.5"}, nil, "SESSION_IDLE_TIMEOUT"},
		{"duration with unit", map[string]string{"SHUTDOWN_TIMEOUT": "15s"}, nil, "SHUTDOWN_TIMEOUT"},
		{"HSTS under a year", map[string]string{"HSTS_MAX_AGE": "31535999"}, nil, "HSTS_MAX_AGE"},
		{"rotation interval negative", map[string]string{"SESSION_ROTATE_INTERVAL": "-1"}, nil, "SESSION_ROTATE_INTERVAL"},
		{"rotation grace not a number", map[string]string{"SESSION_ROTATE_GRACE": "1m"}, nil, "SESSION_ROTATE_GRACE"},
		{"rotation grace zero", map[string]string{"SESSION_ROTATE_GRACE": "0"}, nil, "SESSION_ROTATE_GRACE"},
		{"rotation grace as long as interval", map[string]string{"SESSION_ROTATE_INTERVAL": "60"}, nil, "SESSION_ROTATE_GRACE"},
		{"rotation grace longer than interval", map[string]string{"SESSION_ROTATE_INTERVAL": "30", "SESSION_ROTATE_GRACE": "31"}, nil, "SESSION_ROTATE_GRACE"},
		{"rotation grace flag", nil, []string{"--session-rotate-grace=900"}, "SESSION_ROTATE_GRACE"},
		{"HSTS negative", map[string]string{"HSTS_MAX_AGE": "-1"}, nil, "HSTS_MAX_AGE"},
		{"overflowing duration", map[string]string{"LOGIN_MAX_DELAY": "9223372036854775807"}, nil, "LOGIN_MAX_DELAY"},
		{"negative base delay", map[string]string{"LOGIN_BASE_DELAY": "-5"}, nil, "LOGIN_BASE_DELAY"},
		{"port too high", map[string]string{"API_PORT": "70000"}, nil, "API_PORT"},
		{"port zero", map[string]string{"API_PORT": "0"}, nil, "API_PORT"},
		{"port not a number", map[string]string{"API_PORT": "http"}, nil, "API_PORT"},
		{"port flag", nil, []string{"--api-port=-1"}, "API_PORT"},
		{"short secret", map[string]string{"SESSION_SECRET": "short"}, nil, "SESSION_SECRET"},
		{"second secret short", map[string]string{"SESSION_SECRET": secretA + ",short"}, nil, "SESSION_SECRET"},
		{"empty secret entry", map[string]string{"SESSION_SECRET": secretA + ",,"}, nil, "SESSION_SECRET"},
		{"cookie secure word", map[string]string{"COOKIE_SECURE": "sometimes"}, nil, "COOKIE_SECURE"},
		{"samesite word", map[string]string{"COOKIE_SAMESITE": "relaxed"}, nil, "COOKIE_SAMESITE"},
		{"samesite none without secure", map[string]string{"COOKIE_SAMESITE": "none"}, nil, "COOKIE_SAMESITE"},
		{"samesite none with auto", map[string]string{"COOKIE_SAMESITE": "none", "COOKIE_SECURE": "auto"}, nil, "COOKIE_SAMESITE"},
		{"proxy not an IP", map[string]string{"TRUSTED_PROXIES": "10.0.0.1,proxy.local"}, nil, "TRUSTED_PROXIES"},
		{"proxy bad CIDR", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, nil, "TRUSTED_PROXIES"},
		{"proxy with zone", map[string]string{"TRUSTED_PROXIES": "fe80::1%eth0"}, nil, "TRUSTED_PROXIES"},
		{"proxy empty entry", map[string]string{"TRUSTED_PROXIES": "10.0.0.1,"}, nil, "TRUSTED_PROXIES"},
		{"origin with path", map[string]string{"CORS_ORIGINS": "https://example.com/app"}, nil, "CORS_ORIGINS"},
		{"origin trailing slash", map[string]string{"CORS_ORIGINS": "https://example.com/"}, nil, "CORS_ORIGINS"},
		{"origin without scheme", map[string]string{"CORS_ORIGINS": "example.com"}, nil, "CORS_ORIGINS"},
		{"origin other scheme", map[string]string{"CORS_ORIGINS": "ftp://example.com"}, nil, "CORS_ORIGINS"},
		{"origin with query", map[string]string{"CORS_ORIGINS": "https://example.com?x=1"}, nil, "CORS_ORIGINS"},
		{"origin with user", map[string]string{"CORS_ORIGINS": "https://u@example.com"}, nil, "CORS_ORIGINS"},
		{"origin bad port", map[string]string{"CORS_ORIGINS": "https://example.com:99999"}, nil, "CORS_ORIGINS"},
		{"origin upper case", map[string]string{"CORS_ORIGINS": "https://Example.com"}, nil, "CORS_ORIGINS"},
		{"star mixed with origins", map[string]string{"CORS_ORIGINS": "*,https://example.com"}, nil, "CORS_ORIGINS"},
		{"reauth max age zero", map[string]string{"REAUTH_MAX_AGE": "0"}, nil, "REAUTH_MAX_AGE"},
		{"reauth max age with unit", map[string]string{"REAUTH_MAX_AGE": "5m"}, nil, "REAUTH_MAX_AGE"},
		{"MFA role unknown", map[string]string{"MFA_REQUIRED_ROLES": "admin,root"}, nil, "MFA_REQUIRED_ROLES"},
		{"MFA roles empty entry", map[string]string{"MFA_REQUIRED_ROLES": "admin,"}, nil, "MFA_REQUIRED_ROLES"},
		{"MFA roles with Basic", map[string]string{"MFA_REQUIRED_ROLES": "admin", "AUTH_TYPE": "basic_auth"}, nil,
			"MFA_REQUIRED_ROLES"},
		{"password min zero", map[string]string{"PASSWORD_MIN_LENGTH": "0"}, nil, "PASSWORD_MIN_LENGTH"},
		{"password min too high", map[string]string{"PASSWORD_MIN_LENGTH": "129"}, nil, "PASSWORD_MIN_LENGTH"},
		{"max body zero", map[string]string{"MAX_BODY_BYTES": "0"}, nil, "MAX_BODY_BYTES"},
		{"max body text", map[string]string{"MAX_BODY_BYTES": "1MB"}, nil, "MAX_BODY_BYTES"},
		{"bad boolean", map[string]string{"AUTH_GENERIC_ERRORS": "yes"}, nil, "AUTH_GENERIC_ERRORS"},
		{"bad boolean flag", nil, []string{"--auth-generic-errors=maybe"}, "AUTH_GENERIC_ERRORS"},
		{"rp id with scheme", map[string]string{"WEBAUTHN_RP_ID": "https://example.com"}, nil, "WEBAUTHN_RP_ID"},
		{"rp id with port", map[string]string{"WEBAUTHN_RP_ID": "example.com:443"}, nil, "WEBAUTHN_RP_ID"},
		{"rp id an IP", map[string]string{"WEBAUTHN_RP_ID": "127.0.0.1"}, nil, "WEBAUTHN_RP_ID"},
		{"rp id upper case", map[string]string{"WEBAUTHN_RP_ID": "Example.com"}, nil, "WEBAUTHN_RP_ID"},
		{"rp id trailing dot", map[string]string{"WEBAUTHN_RP_ID": "example.com."}, nil, "WEBAUTHN_RP_ID"},
		{"webauthn origin with path", map[string]string{"WEBAUTHN_ORIGINS": "http://localhost:5000/"}, nil, "WEBAUTHN_ORIGINS"},
		{"webauthn origin upper case", map[string]string{"WEBAUTHN_ORIGINS": "http://LOCALHOST:5000"}, nil, "WEBAUTHN_ORIGINS"},
		{"webauthn origin elsewhere", map[string]string{"WEBAUTHN_ORIGINS": "https://example.com"}, nil, "WEBAUTHN_ORIGINS"},
		{"webauthn origin suffix only", map[string]string{"WEBAUTHN_RP_ID": "example.com",
			"WEBAUTHN_ORIGINS": "https://badexample.com"}, nil, "WEBAUTHN_ORIGINS"},
		{"webauthn origin http", map[string]string{"WEBAUTHN_RP_ID": "example.com",
			"WEBAUTHN_ORIGINS": "http://example.com"}, nil, "WEBAUTHN_ORIGINS"},
		{"webauthn origin an IP", map[string]string{"WEBAUTHN_ORIGINS": "http://127.0.0.1:5000"}, nil, "WEBAUTHN_ORIGINS"},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, nil, "LOG_LEVEL"},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, nil, "LOG_FORMAT"},
		{"cert without key", map[string]string{"TLS_CERT_FILE": "cert.pem"}, nil, "TLS_KEY_FILE"},
		{"key without cert", map[string]string{"TLS_KEY_FILE": "key.pem"}, nil, "TLS_CERT_FILE"},
		{"admin email without password", map[string]string{"ADMIN_EMAIL": "a@example.com"}, nil, "ADMIN_PASSWORD"},
		{"admin password without email", map[string]string{"ADMIN_PASSWORD": "hunter2hunter2"}, nil, "ADMIN_EMAIL"},
		{"metrics without port", map[string]string{"METRICS_ADDR": "localhost"}, nil, "METRICS_ADDR"},
		{"metrics empty port", map[string]string{"METRICS_ADDR": "localhost:"}, nil, "METRICS_ADDR"},
		{"session name with space", map[string]string{"SESSION_NAME": "my session"}, nil, "SESSION_NAME"},
		{"session name with separator", map[string]string{"SESSION_NAME": "sid=1"}, nil, "SESSION_NAME"},
		{"session name non-ASCII", map[string]string{"SESSION_NAME": "sésame"}, nil, "SESSION_NAME"},
		{"session name flag empty", nil, []string{"--session-name", "\x00"}, "SESSION_NAME"},
		{"argon2 memory low", map[string]string{"ARGON2_MEMORY_KIB": "4"}, nil, "ARGON2_MEMORY_KIB"},
		{"argon2 memory high", map[string]string{"ARGON2_MEMORY_KIB": "4194305"}, nil, "ARGON2_MEMORY_KIB"},
		{"argon2 memory per lane", map[string]string{"ARGON2_MEMORY_KIB": "16", "ARGON2_PARALLELISM": "4"}, nil, "ARGON2_MEMORY_KIB"},
		{"argon2 iterations zero", map[string]string{"ARGON2_ITERATIONS": "0"}, nil, "ARGON2_ITERATIONS"},
		{"argon2 parallelism high", map[string]string{"ARGON2_PARALLELISM": "256"}, nil, "ARGON2_PARALLELISM"},
		{"login failures negative", map[string]string{"LOGIN_MAX_FAILURES": "-1"}, nil, "LOGIN_MAX_FAILURES"},
		{"login per hour zero", map[string]string{"LOGIN_MAX_FAILURES_PER_HOUR": "0"}, nil, "LOGIN_MAX_FAILURES_PER_HOUR"},
		{"login ip per minute zero", map[string]string{"LOGIN_IP_PER_MINUTE": "0"}, nil, "LOGIN_IP_PER_MINUTE"},
		{"login burst text", map[string]string{"LOGIN_IP_BURST": "ten"}, nil, "LOGIN_IP_BURST"},
		{"login IPv6 prefix zero", map[string]string{"LOGIN_IPV6_PREFIX": "0"}, nil, "LOGIN_IPV6_PREFIX"},
		{"login IPv6 prefix too long", map[string]string{"LOGIN_IPV6_PREFIX": "129"}, nil, "LOGIN_IPV6_PREFIX"},
		{"login IPv6 prefix as CIDR", map[string]string{"LOGIN_IPV6_PREFIX": "/64"}, nil, "LOGIN_IPV6_PREFIX"},
		{"login IPv6 prefix flag", nil, []string{"--login-ipv6-prefix=-1"}, "LOGIN_IPV6_PREFIX"},
		{"newline in value", map[string]string{"LOG_LEVEL": "info\nerror"}, nil, "LOG_LEVEL"},
		{"host out of range", map[string]string{"API_HOST": "256.1.1.1"}, nil, "API_HOST"},
		{"host short dotted", map[string]string{"API_HOST": "10.1"}, nil, "API_HOST"},
		{"host in brackets", map[string]string{"API_HOST": "[::1]"}, nil, "API_HOST"},
		{"host with port", map[string]string{"API_HOST": "localhost:5000"}, nil, "API_HOST"},
		{"host with zone", map[string]string{"API_HOST": "fe80::1%eth0"}, nil, "API_HOST"},
		{"host with space", map[string]string{"API_HOST": "local host"}, nil, "API_HOST"},
		{"host label hyphen", map[string]string{"API_HOST": "-bad.example"}, nil, "API_HOST"},
		{"host flag", nil, []string{"--api-host=999.0.0.1"}, "API_HOST"},
		{"data dir is a file", map[string]string{"DATA_DIR": tempFile(t)}, nil, "DATA_DIR"},
		{"data dir under a file", map[string]string{"DATA_DIR": filepath.Join(tempFile(t), "data")}, nil, "DATA_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(tt.env))
			require.Error(t, err)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.bad, ce.Var)

			msg := err.Error()
			if tt.args == nil {
				assert.True(t, strings.HasPrefix(msg, tt.bad+"="), "message names the variable first: %s", msg)
				assert.Contains(t, msg, "is not allowed: want")
			} else {
				// A flag's value is named as the flag the user typed.
				flag := "--" + flagName(tt.bad)
				assert.Equal(t, flag, ce.Flag)
				assert.True(t, strings.HasPrefix(msg, "invalid value "), msg)
				assert.Contains(t, msg, " for "+flag+": want")
			}
			assert.NotContains(t, msg, "\n", "message is one line")
		})
	}
}

// tempFile is a path that exists and is not a directory.
func tempFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	return path
}

func TestLoadHosts(t *testing.T) {
	for _, host := range []string{"0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "api.example.com", "my-host", "example.com."} {
		c, err := Load(nil, env(map[string]string{"API_HOST": host}))
		require.NoError(t, err, host)
		assert.Equal(t, host, c.APIHost)
	}
}

func TestLoadDataDir(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Join(dir, "new", "data")} {
		c, err := Load(nil, env(map[string]string{"DATA_DIR": d}))
		require.NoError(t, err, d)
		assert.Equal(t, d, c.DataDir)
	}
	_, err := os.Stat(filepath.Join(dir, "new"))
	assert.ErrorIs(t, err, os.ErrNotExist, "loading the configuration creates nothing")

	file := tempFile(t)
	_, err = Load(nil, env(map[string]string{"DATA_DIR": file}))
	assert.EqualError(t, err, `DATA_DIR="`+file+`" is not allowed: want a directory, and `+file+` is not one`)
}

// SESSION_ROTATE_GRACE is at least a second and shorter than
// SESSION_ROTATE_INTERVAL while rotation is on; with rotation off it is not
// checked.
func TestLoadRotationGrace(t *testing.T) {
	for _, tc := range []struct {
		interval, grace string
		want            time.Duration
	}{
		{"900", "1", time.Second},
		{"900", "899", 899 * time.Second},
		{"2", "1", time.Second},
		{"", "", 60 * time.Second},
		{"0", "0", 0},
		{"0", "900", 900 * time.Second},
		{"0", "100000", 100000 * time.Second},
	} {
		c, err := Load(nil, env(map[string]string{"SESSION_ROTATE_INTERVAL": tc.interval, "SESSION_ROTATE_GRACE": tc.grace}))
		require.NoError(t, err, "interval %q grace %q", tc.interval, tc.grace)
		assert.Equal(t, tc.want, c.SessionRotateGrace, "interval %q grace %q", tc.interval, tc.grace)
	}

	for _, tc := range []struct {
		interval, grace string
		msg             string
	}{
		{"", "0", `SESSION_ROTATE_GRACE="0" is not allowed: want at least 1 second, and less than SESSION_ROTATE_INTERVAL (900)`},
		{"", "900", `SESSION_ROTATE_GRACE="900" is not allowed: want at least 1 second, and less than SESSION_ROTATE_INTERVAL (900)`},
		{"", "3600", `SESSION_ROTATE_GRACE="3600" is not allowed: want at least 1 second, and less than SESSION_ROTATE_INTERVAL (900)`},
		{"1", "", `SESSION_ROTATE_GRACE="60" is not allowed: want at least 1 second, and less than SESSION_ROTATE_INTERVAL (1)`},
		{"60", "60", `SESSION_ROTATE_GRACE="60" is not allowed: want at least 1 second, and less than SESSION_ROTATE_INTERVAL (60)`},
	} {
		_, err := Load(nil, env(map[string]string{"SESSION_ROTATE_INTERVAL": tc.interval, "SESSION_ROTATE_GRACE": tc.grace}))
		var ce *Error
		require.ErrorAs(t, err, &ce, "interval %q grace %q", tc.interval, tc.grace)
		assert.Equal(t, "SESSION_ROTATE_GRACE", ce.Var)
		assert.EqualError(t, err, tc.msg)
	}

	// Flags win over the environment for both settings before they are compared.
	c, err := Load([]string{"--session-rotate-interval=120", "--session-rotate-grace=30"},
		env(map[string]string{"SESSION_ROTATE_INTERVAL": "10", "SESSION_ROTATE_GRACE": "0"}))
	require.NoError(t, err)
	assert.Equal(t, 120*time.Second, c.SessionRotate)
	assert.Equal(t, 30*time.Second, c.SessionRotateGrace)
}

func TestLoadLoginIPv6Prefix(t *testing.T) {
	for v, want := range map[string]int{"1": 1, "48": 48, "128": 128, "": 64} {
		c, err := Load(nil, env(map[string]string{"LOGIN_IPV6_PREFIX": v}))
		require.NoError(t, err, v)
		assert.Equal(t, want, c.Login.IPv6PrefixBits, v)
	}
	c, err := Load([]string{"--login-ipv6-prefix=48"}, env(map[string]string{"LOGIN_IPV6_PREFIX": "0"}))
	require.NoError(t, err)
	assert.Equal(t, 48, c.Login.IPv6PrefixBits, "the flag wins")

	_, err = Load(nil, env(map[string]string{"LOGIN_IPV6_PREFIX": "129"}))
	assert.EqualError(t, err, `LOGIN_IPV6_PREFIX="129" is not allowed: want an integer from 1 to 128`)
}

// Passkeys: the RP id and the origins the page is served from, with
// defaults for a local server and for a domain behind a proxy.
func TestLoadWebAuthn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		rpID    string
		origins []string
	}{
		{"default", nil, "localhost", []string{"http://localhost:5000"}},
		{"port", map[string]string{"API_PORT": "8443"}, "localhost", []string{"http://localhost:8443"}},
		{"a domain", map[string]string{"WEBAUTHN_RP_ID": "example.com"}, "example.com", []string{"https://example.com"}},
		{"origins", map[string]string{"WEBAUTHN_RP_ID": "example.com",
			"WEBAUTHN_ORIGINS": "https://example.com, https://app.example.com:8443"},
			"example.com", []string{"https://example.com", "https://app.example.com:8443"}},
		{"localhost subdomain over http", map[string]string{"WEBAUTHN_ORIGINS": "http://app.localhost:3000"},
			"localhost", []string{"http://app.localhost:3000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(nil, env(tc.env))
			require.NoError(t, err)
			assert.Equal(t, tc.rpID, c.WebAuthnRPID)
			assert.Equal(t, tc.origins, c.WebAuthnOrigins)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"API_PORT": "70000"}))
	require.Error(t, err)
	assert.Equal(t, `API_PORT="70000" is not allowed: want a port number 1-65535`, err.Error())
	// A flag is named the way the usage spells it, however it was typed.
	for _, arg := range []string{"--api-port=abc", "-api-port=abc"} {
		_, err = Load([]string{arg}, env(map[string]string{"API_PORT": "5000"}))
		require.Error(t, err)
		assert.Equal(t, `invalid value "abc" for --api-port: want a port number 1-65535`, err.Error())
	}
	// So is a value the command finds wrong later.
	c, err := Load([]string{"--tls-cert-file=c.pem", "--tls-key-file=k.pem"}, env(map[string]string{"TLS_KEY_FILE": "k2.pem"}))
	require.NoError(t, err)
	assert.Equal(t, `invalid value "c.pem" for --tls-cert-file: want a certificate`,
		c.Invalid("TLS_CERT_FILE", "c.pem", "want a certificate").Error())
	c, err = Load(nil, env(map[string]string{"TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"}))
	require.NoError(t, err)
	assert.Equal(t, `TLS_CERT_FILE="c.pem" is not allowed: want a certificate`,
		c.Invalid("TLS_CERT_FILE", "c.pem", "want a certificate").Error())
}

func TestSecretsNeverInErrors(t *testing.T) {
	const short = "hunter2-is-my-password"
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"short secret env", map[string]string{"SESSION_SECRET": short}, nil},
		{"short secret flag", nil, []string{"--session-secret=" + short}},
		{"valid then short secret", map[string]string{"SESSION_SECRET": secretA + "," + short}, nil},
		{"valid then empty secret", map[string]string{"SESSION_SECRET": secretA + ", "}, nil},
		{"admin password alone", map[string]string{"ADMIN_PASSWORD": short}, nil},
		{"admin password flag alone", nil, []string{"--admin-password", short}},
		{"other error with secrets set", map[string]string{
			"SESSION_SECRET": secretA, "ADMIN_EMAIL": "a@example.com", "ADMIN_PASSWORD": short, "API_PORT": "x",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(tt.env))
			require.Error(t, err)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			for _, s := range []string{short, secretA, "hunter2"} {
				assert.NotContains(t, err.Error(), s)
				assert.NotContains(t, ce.Value, s)
			}
		})
	}

	_, err := Load(nil, env(map[string]string{"SESSION_SECRET": "0123456789ab"}))
	require.Error(t, err)
	assert.Equal(t,
		`SESSION_SECRET="<redacted, 12 bytes>" is not allowed: want comma-separated secrets of at least 32 bytes each: secret 1 has 12 bytes`,
		err.Error())
}

func TestLoadUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--api-port"}, // missing value
		{"stray"},
		{"--auth-generic-errors", "true"}, // a boolean flag takes =value; "true" is a stray argument
	} {
		_, err := Load(args, env(nil))
		require.Error(t, err, "%q", args)
		var ce *Error
		assert.False(t, errors.As(err, &ce), "usage errors are not *Error: %v", err)
		assert.False(t, errors.Is(err, flag.ErrHelp))
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		_, err := Load([]string{arg}, env(nil))
		assert.ErrorIs(t, err, flag.ErrHelp, arg)
	}
}

func TestUsage(t *testing.T) {
	var buf bytes.Buffer
	Usage(&buf)
	out := buf.String()
	for _, s := range settings {
		assert.Contains(t, out, "--"+flagName(s.name), s.name)
		assert.Contains(t, out, s.name)
		if s.def != "" {
			assert.Contains(t, out, s.name+", default "+s.def)
		}
	}
	assert.Contains(t, out, "--api-port=PORT")
	assert.Contains(t, out, "--help")
}

func TestLoadStores(t *testing.T) {
	for auth, want := range map[string]string{AuthBasic: "", AuthSession: StoreMemory,
		AuthSessionExp: StoreMemory, AuthSessionDB: StoreJSONFile} {
		c, err := Load(nil, env(map[string]string{"AUTH_TYPE": auth}))
		require.NoError(t, err)
		assert.Equal(t, want, c.SessionStore, "default session store of %s", auth)
		assert.False(t, c.SharedSessions())
	}

	c, err := Load(nil, env(map[string]string{
		"USER_STORE":     "postgres",
		"DATABASE_URL":   "postgres://app:pw@db:5432/app?sslmode=disable",
		"SESSION_STORE":  "redis",
		"REDIS_URL":      "redis://:pw@cache:6379/2",
		"SESSION_SECRET": secretA,
	}))
	require.NoError(t, err)
	assert.Equal(t, StorePostgres, c.UserStore)
	assert.Equal(t, "postgres://app:pw@db:5432/app?sslmode=disable", c.DatabaseURL)
	assert.Equal(t, StoreRedis, c.SessionStore)
	assert.Equal(t, "redis://:pw@cache:6379/2", c.RedisURL)
	assert.True(t, c.SharedSessions())

	for _, tc := range []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"USER_STORE": "mysql"}, "USER_STORE"},
		{map[string]string{"SESSION_STORE": "disk"}, "SESSION_STORE"},
		{map[string]string{"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"},
		{map[string]string{"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"},
		{map[string]string{"USER_STORE": "postgres"}, "DATABASE_URL"},
		{map[string]string{"SESSION_STORE": "postgres"}, "DATABASE_URL"},
		{map[string]string{"SESSION_STORE": "redis"}, "REDIS_URL"},
		// A shared session store needs the same secret on every instance.
		{map[string]string{"SESSION_STORE": "redis", "REDIS_URL": "redis://cache:6379/0"}, "SESSION_SECRET"},
		{map[string]string{"SESSION_STORE": "postgres", "DATABASE_URL": "postgres://db/app"}, "SESSION_SECRET"},
	} {
		_, err := Load(nil, env(tc.env))
		var ce *Error
		require.ErrorAs(t, err, &ce, "%v", tc.env)
		assert.Equal(t, tc.wantVar, ce.Var, "%v", tc.env)
		assert.NotContains(t, err.Error(), "mysql://db", "URLs are secret: they may hold a password")
	}
}

// A Cluster or a Sentinel instead of REDIS_URL: at most one of the three,
// each checked, and errors name the setting but never show the password.
func TestRedisTopologies(t *testing.T) {
	c, err := Load(nil, env(map[string]string{
		"SESSION_STORE": "redis", "SESSION_SECRET": secretA,
		"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000, 10.0.0.2:7001", "REDIS_PASSWORD": "hunter2-secret",
		"REDIS_KEY_PREFIX": "app1:",
	}))
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7001"}, c.RedisClusterAddrs)
	assert.Equal(t, "hunter2-secret", c.RedisPassword)
	assert.Equal(t, "app1:", c.RedisKeyPrefix)
	assert.True(t, c.RedisSet())

	c, err = Load(nil, env(map[string]string{
		"SESSION_STORE": "redis", "SESSION_SECRET": secretA,
		"REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379,s3:26379", "REDIS_SENTINEL_MASTER": "mymaster",
	}))
	require.NoError(t, err)
	assert.Equal(t, []string{"s1:26379", "s2:26379", "s3:26379"}, c.RedisSentinelAddrs)
	assert.Equal(t, "mymaster", c.RedisSentinelMaster)

	const pw = "hunter2-secret"
	for _, tc := range []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"REDIS_URL": "redis://cache:6379/0", "REDIS_CLUSTER_ADDRS": "a:1"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_URL": "redis://cache:6379/0", "REDIS_SENTINEL_ADDRS": "a:1",
			"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_SENTINEL_ADDRS": "a:1",
			"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "a:1"}, "REDIS_SENTINEL_MASTER"},
		{map[string]string{"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1,,b:2"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:70000"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": ":26379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_URL": "redis://cache:6379/0", "REDIS_PASSWORD": pw}, "REDIS_PASSWORD"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_PASSWORD": pw, "REDIS_KEY_PREFIX": "{x}"}, "REDIS_KEY_PREFIX"},
		{map[string]string{"SESSION_STORE": "redis", "SESSION_SECRET": secretA, "REDIS_PASSWORD": pw}, "REDIS_URL"},
	} {
		_, err := Load(nil, env(tc.env))
		var ce *Error
		require.ErrorAs(t, err, &ce, "%v", tc.env)
		assert.Equal(t, tc.wantVar, ce.Var, "%v", tc.env)
		assert.NotContains(t, err.Error(), pw, "the password is never shown")
	}
}

// onlyFlags declares the named settings on a flag set of their own and
// parses args.
func onlyFlags(t *testing.T, args []string, names ...string) (*flag.FlagSet, *Flags) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := NewFlags(fs, names...)
	require.NoError(t, fs.Parse(args))
	return fs, f
}

// LoadOnly applies the table's rule to the settings declared and ignores
// the others, however wrong.
func TestLoadOnly(t *testing.T) {
	getenv := env(map[string]string{
		"DATABASE_URL": "postgres://app:pw@db:5432/app",
		"API_PORT":     "not a port",
	})
	_, f := onlyFlags(t, nil, "DATABASE_URL")
	c, err := f.LoadOnly(getenv)
	require.NoError(t, err)
	assert.Equal(t, "postgres://app:pw@db:5432/app", c.DatabaseURL)
	assert.Zero(t, c.APIPort)

	_, err = f.LoadOnly(env(map[string]string{"DATABASE_URL": "mysql://app:pw@db/app"}))
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "DATABASE_URL", ce.Var)
	assert.NotContains(t, err.Error(), "pw@", "the URL is secret")

	_, f = onlyFlags(t, []string{"--database-url", "mysql://app:pw@db/app"}, "DATABASE_URL")
	_, err = f.LoadOnly(getenv)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "--database-url", ce.Flag)
	assert.NotContains(t, err.Error(), "pw@", "the URL is secret")

	assert.Panics(t, func() { NewFlags(flag.NewFlagSet("test", flag.ContinueOnError), "NO_SUCH_SETTING") })
}

// A command that takes some settings as flags reads the others from the
// environment alone, checks them all together, and shows only its own.
func TestSomeSettingsAsFlags(t *testing.T) {
	fs, f := onlyFlags(t, []string{"--user-store", "postgres", "--database-url=postgres://db/app"}, "USER_STORE", "DATABASE_URL")
	c, err := f.Load(env(map[string]string{"API_PORT": "8080"}))
	require.NoError(t, err)
	assert.Equal(t, StorePostgres, c.UserStore)
	assert.Equal(t, 8080, c.APIPort)
	assert.Error(t, fs.Parse([]string{"--api-port=9000"}), "not a flag of this command")

	_, f = onlyFlags(t, []string{"--user-store=postgres"}, "USER_STORE", "DATABASE_URL")
	_, err = f.Load(env(nil))
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "DATABASE_URL", ce.Var, "checked together")

	var buf bytes.Buffer
	f.Usage(&buf)
	assert.Equal(t, 2, strings.Count(buf.String(), "  --"), buf.String())
	assert.Contains(t, buf.String(), "  --user-store=STORE\n        USER_STORE, default jsonfile: ")
	assert.NotContains(t, buf.String(), "api-port")
}
