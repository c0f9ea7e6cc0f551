package tests

import (
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
)

// serveUntilListening runs "simpleapi serve args..." with env (JSON logs
// at INFO) and waits for its start line, which it returns decoded.
func serveUntilListening(t *testing.T, bin string, env map[string]string, args ...string) (*process, *testkit.LockedBuffer, map[string]any) {
	t.Helper()
	env["LOG_LEVEL"] = "info"
	env["LOG_FORMAT"] = "json"
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = envList(env)
	logs := &testkit.LockedBuffer{}
	cmd.Stderr = logs
	p := &process{cmd: cmd, done: make(chan error, 1)}
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range logEntries(t, logs.String()) {
			if e["msg"] == "listening" {
				return p, logs, e
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", logs.String())
	return nil, nil, nil
}

// warnings returns the messages of the WARN lines in logs.
func warnings(t *testing.T, logs string) []string {
	var out []string
	for _, e := range logEntries(t, logs) {
		if e["level"] == "WARN" {
			out = append(out, fmt.Sprint(e["msg"]))
		}
	}
	return out
}

// buildStamped builds the binary the way the Dockerfile does, with a
// version passed through -ldflags.
func buildStamped(t *testing.T, version string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "simpleapi")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -X simpleapi/app.version="+version, "-o", bin, "simpleapi")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func TestVersion(t *testing.T) {
	const v = "v9.8.7-test"
	stamped := buildStamped(t, v)
	for _, args := range [][]string{{"version"}, {"-v"}, {"--version"}} {
		out, err := exec.Command(stamped, args...).Output()
		require.NoError(t, err, args)
		assert.Regexp(t, `^simpleapi v9\.8\.7-test \(revision [^,]+, go1\.\d+[^ ]* \w+/\w+\)\n$`, string(out), args)
	}
	// Without a stamp the module's build information is used.
	code, stdout, _ := command(t, map[string]string{}, "", "--version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^simpleapi \S+ \(revision \S+, go1\.`, stdout)
	code, _, _ = command(t, map[string]string{}, "", "version", "extra")
	assert.Equal(t, 2, code)

	// The start line and simpleapi_build_info carry the same version.
	env := testEnv(t.TempDir())
	env["API_HOST"], env["API_PORT"] = "127.0.0.1", strconv.Itoa(testkit.FreePort(t))
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	env["METRICS_ADDR"] = metricsAddr
	p, _, start := serveUntilListening(t, stamped, env)
	assert.Equal(t, v, start["version"])
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	m := parseMetrics(t, resp.Body)
	resp.Body.Close()
	assert.Equal(t, 1.0, m.value("simpleapi_build_info", "version", v))
	stopProcess(t, p)
}

func TestHelpShowsEachHeadingOnce(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"serve", "--help"}, {"healthcheck", "-h"}} {
		code, stdout, _ := command(t, map[string]string{}, "", args...)
		require.Equal(t, 0, code)
		for _, heading := range []string{"Usage:", "Flags"} {
			assert.Equal(t, 1, strings.Count(stdout, heading), "%v: %q in\n%s", args, heading, stdout)
		}
	}
}

func TestUserSubcommandHelp(t *testing.T) {
	all := []string{"--email=", "--role=", "--first-name=", "--last-name=", "--data-dir="}
	for sub, want := range map[string][]string{
		"create":   {"--email=", "--role=", "--first-name=", "--last-name=", "--data-dir="},
		"list":     {"--data-dir="},
		"set-role": {"--email=", "--role=", "--data-dir="},
		"passwd":   {"--email=", "--data-dir="},
		"delete":   {"--email=", "--data-dir="},
	} {
		code, stdout, stderr := command(t, map[string]string{}, "", "user", sub, "-h")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "simpleapi user "+sub, sub)
		for _, f := range all {
			has := false
			for _, w := range want {
				has = has || w == f
			}
			if has {
				assert.Contains(t, stdout, "\n  "+f, "%s shows %s:\n%s", sub, f, stdout)
			} else {
				assert.NotContains(t, stdout, "\n  "+f, "%s does not take %s:\n%s", sub, f, stdout)
			}
		}
	}
	// A flag a command does not take is a usage error.
	code, _, stderr := command(t, map[string]string{}, "", "user", "list", "--email", "a@example.com")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "email")
}

func TestUserCommandUsageErrors(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	code, _, stderr := command(t, env, "", "user", "set-role", "--email", adminEmail)
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--role is required")
	code, _, stderr = command(t, env, "", "user", "delete")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--email is required")
	code, _, _ = command(t, env, "", "user", "frobnicate")
	assert.Equal(t, 2, code)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a usage error touches nothing")
}

func TestUserCommandsNeedAnExistingDataDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{testEnv(missing), []string{"user", "list"}},
		{testEnv(t.TempDir()), []string{"user", "list", "--data-dir", missing}},
		{testEnv(missing), []string{"user", "create", "--email", "a@example.com"}},
		{testEnv(missing), []string{"user", "delete", "--email", "a@example.com"}},
	} {
		code, _, stderr := command(t, tc.env, "pw-long-enough\n", tc.args...)
		assert.Equal(t, 1, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, "does not exist", tc.args)
		_, err := os.Stat(missing)
		assert.ErrorIs(t, err, os.ErrNotExist, "%v created the directory", tc.args)
	}
}

func TestUserListAndDeleteWhileAndAfterServing(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	p := startProcess(t, env)

	// A user created through the API is in the journal, not yet in the
	// snapshot; list reads both, without the lock the server holds.
	req, _ := http.NewRequest("POST", p.url("/api/v1/users"), strings.NewReader(`{"email":"bob@example.com","password":"bob-password-1"}`))
	req.SetBasicAuth(adminEmail, adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	code, stdout, stderr := command(t, env, "", "user", "list")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, adminEmail)
	assert.Contains(t, stdout, "bob@example.com")
	assert.Regexp(t, regexp.MustCompile(`(?m)^ID\s+EMAIL\s+ROLE\s+CREATED_AT$`), stdout)

	// Changes still wait for the server to stop.
	code, _, stderr = command(t, env, "", "user", "delete", "--email", "bob@example.com")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "stop the server first")

	stopProcess(t, p)
	code, stdout, stderr = command(t, env, "", "user", "delete", "--email", "bob@example.com")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "deleted")
	code, _, stderr = command(t, env, "", "user", "delete", "--email", "bob@example.com")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such user")
	code, _, stderr = command(t, env, "", "user", "delete", "--email", adminEmail)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "last admin")
	code, stdout, _ = command(t, env, "", "user", "list")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, adminEmail, "the last admin is still there")
	assert.NotContains(t, stdout, "bob@example.com")
}

func TestFirstRun(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	delete(env, "ADMIN_EMAIL")
	delete(env, "ADMIN_PASSWORD")
	port := testkit.FreePort(t)
	env["API_HOST"], env["API_PORT"] = "0.0.0.0", strconv.Itoa(port)
	p, logs, start := serveUntilListening(t, binary, env)
	assert.Equal(t, fmt.Sprintf("http://localhost:%d", port), start["url"], "a URL one can open")
	assert.NotEmpty(t, start["version"])
	warned := strings.Join(warnings(t, logs.String()), "\n")
	assert.Contains(t, warned, "no admin exists")
	assert.Contains(t, warned, "ADMIN_EMAIL")
	assert.Contains(t, warned, "simpleapi user create")
	stopProcess(t, p)

	// The admin created at the next start ends the warning; its password
	// is set only then.
	env = testEnv(dir)
	env["API_HOST"], env["API_PORT"] = "127.0.0.1", strconv.Itoa(testkit.FreePort(t))
	p, logs, _ = serveUntilListening(t, binary, env)
	assert.Empty(t, warnings(t, logs.String()))
	stopProcess(t, p)

	// ADMIN_PASSWORD for an admin that exists is ignored, and says so.
	env["ADMIN_PASSWORD"] = "another-password-1"
	p, logs, start = serveUntilListening(t, binary, env)
	warned = strings.Join(warnings(t, logs.String()), "\n")
	assert.Contains(t, warned, "ADMIN_PASSWORD ignored")
	assert.NotContains(t, logs.String(), "another-password-1")
	base := strings.Replace(fmt.Sprint(start["url"]), "localhost", "127.0.0.1", 1)
	req, _ := http.NewRequest("GET", base+"/api/v1/users/me", nil)
	req.SetBasicAuth(adminEmail, adminPassword)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "the first password still works")
	stopProcess(t, p)
}

// The health check finds a server whose port was set by a flag (the
// environment says nothing about it), checks readiness, and fails once
// the server has stopped.
func TestHealthcheckFollowsTheServer(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	port := testkit.FreePort(t)
	p, _, start := serveUntilListening(t, binary, env, "--api-host", "127.0.0.1", "--api-port", strconv.Itoa(port))
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d", port), start["url"])
	code, stdout, stderr := command(t, testEnv(dir), "", "healthcheck")
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "OK\n", stdout)
	stopProcess(t, p)
	_, err := os.Stat(filepath.Join(dir, ".server_url"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the address goes with the server")
	code, _, _ = command(t, testEnv(dir), "", "healthcheck")
	assert.NotEqual(t, 0, code)
}

func TestBadHostAndDataDirRefusedBeforeListening(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for name, value := range map[string]string{"API_HOST": "256.1.1.1", "DATA_DIR": file} {
		env := testEnv(t.TempDir())
		env["API_PORT"] = strconv.Itoa(testkit.FreePort(t))
		env[name] = value
		code, _, stderr := command(t, env, "", "serve")
		assert.Equal(t, 2, code, stderr)
		assert.True(t, strings.HasPrefix(stderr, "simpleapi: "+name+"="), stderr)
		assert.NotContains(t, stderr, "listening")
	}
}

// A data directory the server's user cannot write, such as a root-owned
// bind mount in the container (which runs as uid 65532), stops the start
// with the fix.
func TestUnwritableDataDirSaysHowToFix(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	require.NoError(t, os.Mkdir(dir, 0o755))
	cmd := exec.Command(binary, "serve")
	env := testEnv(dir)
	env["API_PORT"] = strconv.Itoa(testkit.FreePort(t))
	cmd.Env = envList(env)
	uid := os.Getuid()
	if uid == 0 {
		// Root may write anywhere: run as the container's user instead,
		// which needs to reach the binary.
		uid = 65532
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		// The test's directories are 0700; the user must reach the binary
		// and see the data directory, as in the container.
		for _, d := range []string{filepath.Dir(binary), parent, filepath.Dir(parent)} {
			require.NoError(t, os.Chmod(d, 0o755))
		}
	} else {
		require.NoError(t, os.Chmod(dir, 0o555))
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(out))
	assert.Equal(t, 2, exit.ExitCode(), string(out))
	msg := string(out)
	assert.True(t, strings.HasPrefix(msg, `simpleapi: DATA_DIR="`+dir+`"`), msg)
	assert.Contains(t, msg, fmt.Sprintf("writable by this process (uid %d)", uid))
	assert.Contains(t, msg, fmt.Sprintf("chown -R %d %s", uid, dir))
	assert.Contains(t, msg, "named volume")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}
