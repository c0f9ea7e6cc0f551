package tests

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store/jsonfile"
	"simpleapi/store/postgres/pgtest"
)

// binary is the simpleapi command built once for the tests that run it as
// a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "simpleapi-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "simpleapi")
	build := exec.Command("go", "build", "-o", binary, "simpleapi")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building simpleapi: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// command runs the binary with env (and nothing of this process's
// environment) and returns its exit status, stdout and stderr.
func command(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = envList(env)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

func envList(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// process is a server running as a child process.
type process struct {
	cmd    *exec.Cmd
	port   int
	stderr *bytes.Buffer
	done   chan error
}

func startProcess(t testing.TB, env map[string]string) *process {
	t.Helper()
	port := testkit.FreePort(t)
	env["API_HOST"] = "127.0.0.1"
	env["API_PORT"] = strconv.Itoa(port)
	env["LOG_LEVEL"] = "info"
	cmd := exec.Command(binary, "serve")
	cmd.Env = envList(env)
	p := &process{cmd: cmd, port: port, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("server exited: %v\n%s", err, p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", p.stderr.String())
	return nil
}

func (p *process) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path)
}

func TestConfigErrorsExit2NamingTheVariable(t *testing.T) {
	cases := map[string]string{
		"AUTH_TYPE":            "token_auth",
		"API_PORT":             "70000",
		"SESSION_DURATION":     "-5",
		"SESSION_IDLE_TIMEOUT": "soon",
		"SESSION_SECRET":       "too-short",
		"COOKIE_SECURE":        "maybe",
		"PASSWORD_MIN_LENGTH":  "0",
		"MAX_BODY_BYTES":       "0",
		"LOG_FORMAT":           "xml",
		"TRUSTED_PROXIES":      "not-an-ip",
		"API_HOST":             "256.1.1.1",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			env := testEnv(t.TempDir())
			env[name] = value
			code, _, stderr := command(t, env, "", "serve")
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, name)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
			if name != "SESSION_SECRET" {
				assert.Contains(t, stderr, value)
			} else {
				assert.NotContains(t, stderr, value, "secrets are never printed")
			}
		})
	}
	t.Run("flag", func(t *testing.T) {
		// Named as the flag the user typed, not as the variable.
		code, _, stderr := command(t, testEnv(t.TempDir()), "", "serve", "-api-port", "abc")
		assert.Equal(t, 2, code)
		assert.Equal(t, "simpleapi: invalid value \"abc\" for --api-port: want a port number 1-65535\n", stderr)
	})
	t.Run("admin values that could not make an admin", func(t *testing.T) {
		for _, tc := range []struct{ email, password, name, shown string }{
			{"not-an-email", "long-enough-1", "ADMIN_EMAIL", "not-an-email"},
			{"a@example.com", "short", "ADMIN_PASSWORD", "<redacted, 5 bytes>"},
		} {
			env := testEnv(t.TempDir())
			env["ADMIN_EMAIL"], env["ADMIN_PASSWORD"] = tc.email, tc.password
			code, _, stderr := command(t, env, "", "serve")
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tc.name+"=")
			assert.Contains(t, stderr, tc.shown)
			assert.NotContains(t, stderr, "short\"", "the password is never shown")
		}
	})
	t.Run("unknown flag", func(t *testing.T) {
		code, _, stderr := command(t, testEnv(t.TempDir()), "", "serve", "--no-such-flag")
		assert.Equal(t, 2, code, stderr)
		assert.Contains(t, stderr, "no-such-flag")
	})
	t.Run("unknown command", func(t *testing.T) {
		code, _, _ := command(t, testEnv(t.TempDir()), "", "frobnicate")
		assert.Equal(t, 2, code)
	})
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"serve", "-h"}, {"user", "-h"}, {"user", "create", "-h"}, {"healthcheck", "-h"}, {"version", "-h"}, {"help"}} {
		code, stdout, stderr := command(t, map[string]string{}, "", args...)
		assert.Equal(t, 0, code, "%v: %s", args, stderr)
		assert.Contains(t, stdout, "Usage", args)
	}
	code, stdout, _ := command(t, map[string]string{}, "", "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "simpleapi")
}

func TestServerProcess(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	p := startProcess(t, env)

	// The health check passes against a running server.
	code, _, stderr := command(t, env, "", "healthcheck")
	assert.Equal(t, 0, code, stderr)

	// A second server on the same DATA_DIR is refused with a clear message.
	env2 := testEnv(dir)
	env2["API_PORT"] = strconv.Itoa(testkit.FreePort(t))
	code, _, stderr = command(t, env2, "", "serve")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "in use by another simpleapi process")

	// So are the user commands, which change nothing.
	code, _, stderr = command(t, env, "new-password-1\n", "user", "create", "--email", "cli@example.com")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "stop the server first")

	// A request through the network.
	req, _ := http.NewRequest("POST", p.url("/api/v1/users"), strings.NewReader(`{"email":"net@example.com","password":"net-password-1"}`))
	req.SetBasicAuth(adminEmail, adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)

	// SIGTERM: a clean stop, exit 0.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(t, err, p.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
	assert.Contains(t, p.stderr.String(), "stopped")

	// The health check fails against a stopped server.
	code, _, _ = command(t, env, "", "healthcheck")
	assert.NotEqual(t, 0, code)

	// With the server gone the user commands work on the data directory.
	code, stdout, stderr := command(t, env, "cli-password-1\n", "user", "create", "--email", "cli@example.com", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "cli@example.com")
	code, stdout, stderr = command(t, env, "", "user", "list")
	require.Equal(t, 0, code, stderr)
	for _, email := range []string{adminEmail, "net@example.com", "cli@example.com"} {
		assert.Contains(t, stdout, email)
	}
	assert.NotContains(t, stdout, "argon2")
	code, _, stderr = command(t, env, "", "user", "set-role", "--email", "net@example.com", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = command(t, env, "short\n", "user", "passwd", "--email", "net@example.com")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "password too short")
	code, _, stderr = command(t, env, "changed-password-1\n", "user", "passwd", "--email", "net@example.com")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = command(t, env, "", "user", "set-role", "--email", "nobody@example.com", "--role", "admin")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such user")
	code, _, _ = command(t, env, "", "user", "create", "--email", "x@example.com", "--password", "nope")
	assert.Equal(t, 2, code, "passwords are never taken from a flag")

	// Everything the CLI did is seen by the next server.
	p = startProcess(t, testEnv(dir))
	req, _ = http.NewRequestWithContext(context.Background(), "GET", p.url("/api/v1/users"), nil)
	req.SetBasicAuth("net@example.com", "changed-password-1")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "net@example.com is an admin with the new password")
}

// storedUser is a user as the store keeps it.
type storedUser struct{ email, role, hash string }

// pgUsers reads the users table of databaseURL, in creation order.
func pgUsers(t *testing.T, databaseURL string) []storedUser {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), "SELECT email, role, password_hash FROM users ORDER BY seq")
	require.NoError(t, err)
	var out []storedUser
	for rows.Next() {
		var u storedUser
		require.NoError(t, rows.Scan(&u.email, &u.role, &u.hash))
		out = append(out, u)
	}
	require.NoError(t, rows.Err())
	return out
}

// fileUsers reads the users of a stopped JSON-file store, in creation order.
func fileUsers(t *testing.T, dataDir string) []storedUser {
	t.Helper()
	users, err := jsonfile.ReadUsers(dataDir)
	require.NoError(t, err)
	var out []storedUser
	for _, u := range users {
		out = append(out, storedUser{email: u.Email, role: string(u.Role), hash: u.PasswordHash})
	}
	return out
}

// Every user command works on the store USER_STORE names, opened as the
// server opens it: with USER_STORE=postgres the rows are in PostgreSQL,
// nothing is written to a JSON file, and no DATA_DIR is needed.
func TestUserCommandsOnEachStore(t *testing.T) {
	for _, userStore := range []string{"jsonfile", "postgres"} {
		t.Run(userStore, func(t *testing.T) {
			dataDir := t.TempDir()
			env := testEnv(dataDir)
			stored := func() []storedUser { return fileUsers(t, dataDir) }
			if userStore == "postgres" {
				databaseURL := pgtest.Schema(t)
				dataDir = filepath.Join(t.TempDir(), "never-made")
				env = testEnv(dataDir)
				env["USER_STORE"], env["DATABASE_URL"] = "postgres", databaseURL
				stored = func() []storedUser { return pgUsers(t, databaseURL) }
			}
			// Login limits in a Redis that does not answer are no concern
			// of the user commands.
			env["REDIS_URL"] = fmt.Sprintf("redis://127.0.0.1:%d/0", testkit.FreePort(t))
			run := func(stdin string, args ...string) (int, string, string) {
				t.Helper()
				return command(t, env, stdin, append([]string{"user"}, args...)...)
			}

			code, stdout, stderr := run("root-password-1\n", "create", "--email", "root@example.com", "--role", "admin")
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stdout, "root@example.com (admin)")
			code, _, stderr = run("bob-password-1\n", "create", "--email", "bob@example.com", "--first-name", "Bob")
			require.Equal(t, 0, code, stderr)
			users := stored()
			require.Len(t, users, 2)
			assert.Equal(t, []string{"root@example.com admin", "bob@example.com user"},
				[]string{users[0].email + " " + users[0].role, users[1].email + " " + users[1].role})

			code, stdout, stderr = run("", "list")
			require.Equal(t, 0, code, stderr)
			assert.Regexp(t, `(?s)root@example\.com\s+admin.*bob@example\.com\s+user`, stdout)

			code, stdout, stderr = run("", "set-role", "--email", "bob@example.com", "--role", "admin")
			require.Equal(t, 0, code, stderr)
			assert.Equal(t, "bob@example.com is now admin\n", stdout)
			assert.Equal(t, "admin", stored()[1].role)

			code, _, stderr = run("bob-password-2\n", "passwd", "--email", "bob@example.com")
			require.Equal(t, 0, code, stderr)
			assert.NotEqual(t, users[1].hash, stored()[1].hash, "a new password hash")

			code, _, stderr = run("", "delete", "--email", "root@example.com")
			require.Equal(t, 0, code, stderr)
			code, _, stderr = run("", "delete", "--email", "bob@example.com")
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, "last admin")
			code, _, stderr = run("", "set-role", "--email", "nobody@example.com", "--role", "user")
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, "no such user: nobody@example.com")
			users = stored()
			require.Len(t, users, 1)
			assert.Equal(t, storedUser{"bob@example.com", "admin", users[0].hash}, users[0])

			if userStore == "postgres" {
				assert.NoDirExists(t, dataDir, "nothing is kept in DATA_DIR")
			}
		})
	}
}

// With users and sessions in PostgreSQL the user commands work while a
// server runs, and end the sessions the API would end, in PostgreSQL.
func TestUserCommandsEndSessionsInPostgres(t *testing.T) {
	databaseURL := pgtest.Schema(t)
	s := newSessionServer(t, "USER_STORE", "postgres", "SESSION_STORE", "postgres",
		"DATABASE_URL", databaseURL, "SESSION_SECRET", "cli-postgres-secret-0123456789abcdef")
	admin := s.adminCookie()
	for _, email := range []string{"bob@example.com", "carol@example.com", "dave@example.com"} {
		rec := s.do("POST", "/api/v1/users", `{"email":"`+email+`","password":"`+userPassword+`"}`, withCookie(admin))
		require.Equal(t, 201, rec.Code, rec.Body.String())
		s.sessionCookie(email, userPassword)
	}
	sessionsOf := func(email string) int {
		conn, err := pgx.Connect(t.Context(), databaseURL)
		require.NoError(t, err)
		defer conn.Close(t.Context())
		var n int
		require.NoError(t, conn.QueryRow(t.Context(),
			"SELECT count(*) FROM sessions JOIN users ON users.id = sessions.user_id WHERE users.email = $1", email).Scan(&n))
		return n
	}
	require.Equal(t, 1, sessionsOf("carol@example.com"))

	code, _, stderr := command(t, s.env, "", "user", "set-role", "--email", "carol@example.com", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = command(t, s.env, "new-password-1\n", "user", "passwd", "--email", "dave@example.com")
	require.Equal(t, 0, code, stderr)
	bobID := s.userByEmailAsCookieAdmin(t, "bob@example.com").ID
	code, _, stderr = command(t, s.env, "", "user", "delete", "--email", "bob@example.com")
	require.Equal(t, 0, code, stderr)

	assert.Zero(t, sessionsOf("carol@example.com"), "role changed")
	assert.Zero(t, sessionsOf("dave@example.com"), "password reset")
	assert.NotZero(t, sessionsOf(adminEmail), "the admin's sessions stay")
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM sessions WHERE user_id = $1", bobID).Scan(&n))
	assert.Zero(t, n, "deleted")
	rec := s.do("GET", "/api/v1/users/me", "", withCookie(admin))
	assert.Equal(t, 200, rec.Code, "the running server sees the same users")
}

// helpOutputs runs every command's -h.
func helpOutputs(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, args := range [][]string{
		{"-h"}, {"serve", "-h"}, {"user", "-h"}, {"user", "create", "-h"}, {"user", "list", "-h"},
		{"user", "set-role", "-h"}, {"user", "passwd", "--help"}, {"user", "delete", "-h"},
		{"migrate", "-h"}, {"migrate", "status", "-h"}, {"migrate", "up", "-h"}, {"migrate", "import-json", "-h"},
		{"healthcheck", "-h"}, {"version", "-h"},
	} {
		code, stdout, stderr := command(t, map[string]string{}, "", args...)
		require.Equal(t, 0, code, "%v: %s", args, stderr)
		out[strings.Join(args, " ")] = stdout
	}
	return out
}

// Each command has its own help, printed once: the flags it takes and no
// others.
func TestEachCommandHasItsOwnHelpOnce(t *testing.T) {
	helps := helpOutputs(t)
	for args, stdout := range helps {
		assert.Equal(t, 1, strings.Count(stdout, "Usage:"), "%s:\n%s", args, stdout)
		assert.LessOrEqual(t, strings.Count(stdout, "Flags"), 1, "%s:\n%s", args, stdout)
	}
	hc := helps["healthcheck -h"]
	assert.Contains(t, hc, "simpleapi healthcheck")
	for _, f := range []string{"--api-port=", "--api-host=", "--data-dir="} {
		assert.Contains(t, hc, "\n  "+f)
	}
	for _, f := range []string{"--auth-type", "--session-secret", "--log-level", "--database-url"} {
		assert.NotContains(t, hc, f, "healthcheck -h shows healthcheck's flags, not the server's")
	}
	assert.Less(t, strings.Count(hc, "\n"), 30, hc)
	assert.NotContains(t, helps["user create -h"], "--api-port")
	assert.Contains(t, helps["user create -h"], "\n  --user-store=")
	assert.Contains(t, helps["migrate import-json -h"], "\n  --data-dir=")
	assert.NotContains(t, helps["migrate status -h"], "--data-dir")
	assert.Contains(t, helps["-h"], "\n  --session-secret=", "the server's help has every setting")
}

// Flags are spelt with two dashes in every usage text, error and doc (the
// flag package also accepts one).
func TestOneFlagSpelling(t *testing.T) {
	single := regexp.MustCompile(`(^|[\s"'(\[` + "`" + `])-([a-z][a-z0-9]*(-[a-z0-9]+)*)\b`)
	for args, stdout := range helpOutputs(t) {
		for _, m := range single.FindAllStringSubmatch(stdout, -1) {
			assert.Contains(t, []string{"h", "v"}, m[2], "%s shows -%s:\n%s", args, m[2], stdout)
		}
	}
	env := testEnv(t.TempDir())
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "create", "-bogus"}, "user create: unknown flag --bogus (see simpleapi user create -h)"},
		{[]string{"user", "create", "-email"}, "user create: flag --email needs a value"},
		{[]string{"user", "list", "-data-dir", file}, `invalid value "` + file + `" for --data-dir: want a directory`},
		{[]string{"serve", "-no-such-flag"}, "unknown flag --no-such-flag"},
		{[]string{"healthcheck", "-api-port", "abc"}, `invalid value "abc" for --api-port: want a port number 1-65535`},
		{[]string{"migrate", "status", "-database-url", "mysql://db/x"}, `for --database-url: want a postgres:// or postgresql:// URL`},
		{[]string{"user", "delete"}, "user delete: --email is required"},
	} {
		code, _, stderr := command(t, env, "", tc.args...)
		assert.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, tc.args)
		for _, m := range single.FindAllStringSubmatch(strings.TrimPrefix(stderr, "simpleapi: "), -1) {
			assert.Contains(t, []string{"h"}, m[2], "%v: %s", tc.args, stderr)
		}
	}

	// The docs spell the command's flags the same way.
	flags := map[string]bool{"email": true, "role": true, "first-name": true, "last-name": true, "help": true, "version": true}
	for _, line := range strings.Split(helpOutputs(t)["-h"], "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "--"); ok {
			flags[strings.Split(name, "=")[0]] = true
		}
	}
	docs, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	for _, path := range append(docs, "../README.md") {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, m := range single.FindAllStringSubmatch(string(b), -1) {
			assert.False(t, flags[m[2]], "%s spells a flag -%s", path, m[2])
		}
	}
}

// A bad value is named the way it was given: the flag the user typed, or
// the variable.
func TestBadValueNamedAsGiven(t *testing.T) {
	env := testEnv(t.TempDir())
	env["API_PORT"] = "abc"
	code, _, stderr := command(t, env, "", "serve")
	assert.Equal(t, 2, code)
	assert.Equal(t, "simpleapi: API_PORT=\"abc\" is not allowed: want a port number 1-65535\n", stderr)
	env["API_PORT"] = "5000"
	for _, args := range [][]string{{"serve", "--api-port", "abc"}, {"--api-port=abc"}, {"healthcheck", "--api-port", "abc"}} {
		code, _, stderr = command(t, env, "", args...)
		assert.Equal(t, 2, code, args)
		assert.Equal(t, "simpleapi: invalid value \"abc\" for --api-port: want a port number 1-65535\n", stderr, args)
	}
}

// Errors say what would have been allowed.
func TestUserErrorsSayWhatIsAllowed(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	code, _, stderr := command(t, env, "pw-long-enough\n", "user", "create", "--email", "a@example.com", "--role", "Admin")
	assert.Equal(t, 2, code, "a bad flag value")
	assert.Equal(t, "simpleapi: user create: invalid role \"Admin\": want admin or user\n", stderr)
	code, _, stderr = command(t, env, "", "user", "set-role", "--email", "a@example.com", "--role", "root")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `invalid role "root": want admin or user`)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "refused before anything was opened")

	code, _, stderr = command(t, env, "short\n", "user", "create", "--email", "a@example.com")
	assert.Equal(t, 1, code)
	assert.Equal(t, "simpleapi: password too short: at least 8 characters (PASSWORD_MIN_LENGTH)\n", stderr)
	env["PASSWORD_MIN_LENGTH"] = "12"
	code, _, stderr = command(t, env, "only-eleven\n", "user", "create", "--email", "a@example.com")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "password too short: at least 12 characters")
	code, _, stderr = command(t, env, "long-enough-password\n", "user", "create", "--email", "not-an-email")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `invalid email "not-an-email": want a plausible email address`)
	code, _, stderr = command(t, env, "long-enough-password\n", "user", "create", "--email", "a@example.com")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = command(t, env, "long-enough-password\n", "user", "create", "--email", "A@example.com")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "email already registered: A@example.com")
}

// Two servers sharing a DATA_DIR (users in PostgreSQL, nothing else on
// disk) each record their address in a file of their own; the health
// check asks the only one running, or the one --api-port names.
func TestHealthcheckFindsItsServer(t *testing.T) {
	dir := t.TempDir()
	databaseURL := pgtest.Schema(t)
	shared := func() map[string]string {
		env := testEnv(dir)
		env["USER_STORE"], env["DATABASE_URL"] = "postgres", databaseURL
		return env
	}
	a := startProcess(t, shared())
	b := startProcess(t, shared())
	recorded := func(p *process) string {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf(".server_url.%d", p.cmd.Process.Pid)))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	assert.Equal(t, a.url(""), recorded(a))
	assert.Equal(t, b.url(""), recorded(b))

	// The environment names neither server's port.
	env := testEnv(dir)
	code, _, stderr := command(t, env, "", "healthcheck")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "2 servers run on data directory")
	assert.Contains(t, stderr, "choose one with --api-port")
	for _, p := range []*process{a, b} {
		code, stdout, stderr := command(t, env, "", "healthcheck", "--api-port", strconv.Itoa(p.port))
		assert.Equal(t, 0, code, stderr)
		assert.Equal(t, "OK\n", stdout)
	}

	// A clean stop takes its own record only.
	stopProcess(t, a)
	assert.Empty(t, recorded(a))
	assert.Equal(t, b.url(""), recorded(b))
	code, _, stderr = command(t, env, "", "healthcheck")
	assert.Equal(t, 0, code, "the only server running: %s", stderr)

	// A killed server leaves its record, which the check passes over and
	// the next server's start removes.
	require.NoError(t, b.cmd.Process.Kill())
	<-b.done
	require.Equal(t, b.url(""), recorded(b))
	env["API_PORT"] = strconv.Itoa(testkit.FreePort(t))
	code, _, _ = command(t, env, "", "healthcheck")
	assert.NotEqual(t, 0, code, "nothing runs")
	c := startProcess(t, shared())
	assert.Empty(t, recorded(b), "removed by the next start")
	code, _, stderr = command(t, testEnv(dir), "", "healthcheck")
	assert.Equal(t, 0, code, stderr)
	stopProcess(t, c)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "every record gone")
}

// The user commands take a Redis Cluster's settings as flags as well:
// set-role ends the sessions that a server keeps on the Cluster.
func TestUserCommandsOnARedisCluster(t *testing.T) {
	redis := map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(testkit.SharedCluster(t).Addrs(), ","),
		"REDIS_KEY_PREFIX": testkit.TopologyPrefix("simpleapi-cli")}
	databaseURL := pgtest.Schema(t)
	p := startProcess(t, sharedEnvOn(t, databaseURL, redis))
	admin := loginOn(t, p, adminEmail, adminPassword)
	createOn(t, p, admin, "bob@example.com", "user")
	bob := loginOn(t, p, "bob@example.com", "user-password-1")
	require.Equal(t, 200, call(t, p, "GET", "/api/v1/users/me", bob, "").status)

	// No Redis or PostgreSQL variables: the flags name them. (The
	// command checks the settings as the server does, which wants
	// SESSION_SECRET with shared sessions.)
	env := testEnv(t.TempDir())
	env["SESSION_SECRET"] = sharedSecret
	code, stdout, stderr := command(t, env, "", "user", "set-role",
		"--email", "bob@example.com", "--role", "admin",
		"--user-store", "postgres", "--database-url", databaseURL, "--session-store", "redis",
		"--redis-cluster-addrs", redis["REDIS_CLUSTER_ADDRS"], "--redis-key-prefix", redis["REDIS_KEY_PREFIX"])
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "bob@example.com is now admin\n", stdout)
	assert.Equal(t, 403, call(t, p, "GET", "/api/v1/users/me", bob, "").status, "bob's session ended on the Cluster")
	assert.Equal(t, 200, call(t, p, "GET", "/api/v1/users/me", admin, "").status, "the admin's session kept")
}
