package tests

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoginStormBoundedWait: a burst of logins larger than password
// hashing can serve within ARGON2_MAX_WAIT is not queued without bound.
// The logins that would wait too long answer 503 "Service unavailable"
// with Retry-After (never a false 404 or 401), each refusal is counted in
// simpleapi_password_hash_refused_total, and the service answers normally
// once the burst is over.
func TestLoginStormBoundedWait(t *testing.T) {
	// Production-sized argon2id, so hashes take tens of milliseconds and a
	// burst of 200 cannot all be served within one second.
	s := newServer(t, "AUTH_TYPE", "session_db_auth",
		"ARGON2_MEMORY_KIB", "19456", "ARGON2_ITERATIONS", "2", "ARGON2_MAX_WAIT", "1")
	const logins = 200
	statuses := make([]int, logins)
	retry := make([]string, logins)
	bodies := make([]string, logins)
	var wg sync.WaitGroup
	for i := range logins {
		wg.Go(func() {
			form := url.Values{"email": {fmt.Sprintf("victim%d@example.com", i)}, "password": {"not-the-password"}}
			req, err := http.NewRequest("POST", "/api/v1/auth_session/login", strings.NewReader(form.Encode()))
			if err != nil {
				panic(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, req)
			statuses[i], retry[i], bodies[i] = rec.Code, rec.Header().Get("Retry-After"), rec.Body.String()
		})
	}
	wg.Wait()

	counts := map[int]int{}
	for i, st := range statuses {
		counts[st]++
		switch st {
		case http.StatusNotFound:
			assert.JSONEq(t, `{"error":"no user found for this email"}`, bodies[i])
		case http.StatusServiceUnavailable:
			assert.JSONEq(t, `{"error":"Service unavailable"}`, bodies[i])
			assert.Equal(t, "2", retry[i], "a refused login says when to come back")
		default:
			t.Errorf("login %d answered %d %s", i, st, bodies[i])
		}
	}
	t.Logf("answers: %v", counts)
	assert.Positive(t, counts[http.StatusNotFound], "some logins were served")
	assert.Positive(t, counts[http.StatusServiceUnavailable], "the rest were refused, not queued")
	m := scrape(t, s.app.Metrics())
	assert.Equal(t, float64(counts[http.StatusServiceUnavailable]), m.value("simpleapi_password_hash_refused_total"))

	// After the storm: a real login is served.
	form := url.Values{"email": {adminEmail}, "password": {adminPassword}}
	req, err := http.NewRequest("POST", "/api/v1/auth_session/login", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}
