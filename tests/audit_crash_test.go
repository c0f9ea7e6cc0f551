package tests

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An audit line is written before the answer it records is sent: a server
// killed (SIGKILL, no chance to flush anything) right after answering a
// failed login has already written its login_failed line.
func TestAuditLineSurvivesKillAfterAnswer(t *testing.T) {
	for _, mode := range []string{"session_db_auth", "basic_auth"} {
		t.Run(mode, func(t *testing.T) {
			env := testEnv(t.TempDir())
			env["AUTH_TYPE"] = mode
			env["LOG_FORMAT"] = "json"
			p := startProcess(t, env)

			const wrong = "kill-wrong-secret-7"
			var req *http.Request
			var err error
			if mode == "basic_auth" {
				req, err = http.NewRequest("GET", p.url("/api/v1/users/me"), nil)
				require.NoError(t, err)
				req.SetBasicAuth(adminEmail, wrong)
			} else {
				form := url.Values{"email": {adminEmail}, "password": {wrong}}.Encode()
				req, err = http.NewRequest("POST", p.url("/api/v1/auth_session/login"), strings.NewReader(form))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			status := resp.StatusCode
			// Killed as soon as the status line is in, before the body is
			// even read.
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
			resp.Body.Close()
			<-p.done // stderr holds everything the process wrote
			if mode == "basic_auth" {
				require.Equal(t, http.StatusForbidden, status)
			} else {
				require.Equal(t, http.StatusUnauthorized, status)
			}

			logs := p.stderr.String()
			var failed []map[string]any
			sc := bufio.NewScanner(strings.NewReader(logs))
			for sc.Scan() {
				var e map[string]any
				if json.Unmarshal(sc.Bytes(), &e) == nil && e["event"] == "login_failed" {
					failed = append(failed, e)
				}
			}
			require.Len(t, failed, 1, "the login_failed line is in the output:\n%s", logs)
			assert.Equal(t, true, failed[0]["audit"])
			assert.Equal(t, "127.0.0.1", failed[0]["client_ip"])
			assert.NotContains(t, logs, wrong, "passwords are never logged")
		})
	}
}
