package tests

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkAuthOverhead compares an authenticated request with a public
// one through the same router (no network): the difference is what
// session authentication costs, and what a personal access token costs
// instead. Run with
//
//	go test -run '^$' -bench AuthOverhead -benchmem ./tests
func BenchmarkAuthOverhead(b *testing.B) {
	s := newSessionServer(b)
	cookie := s.adminCookie()
	s.logs.Discard() // lines are still formatted, as in production
	status := httptest.NewRequest("GET", "/api/v1/status", nil)
	me := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	me.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	// The same request by personal access token (createToken runs through
	// s.do, whose OpenAPI check needs a *testing.T: done by hand here).
	create := httptest.NewRequest("POST", "/api/v1/users/me/tokens", strings.NewReader(`{"name":"bench","scope":"read"}`))
	create.Header.Set("Content-Type", "application/json")
	create.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, create)
	var tok struct{ Token string }
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &tok) != nil {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	byToken := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	byToken.Header.Set("Authorization", "Bearer "+tok.Token)

	run := func(b *testing.B, req *http.Request) {
		b.ReportAllocs()
		w := &benchWriter{header: http.Header{}}
		for b.Loop() {
			w.reset()
			s.handler.ServeHTTP(w, req)
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		}
	}
	b.Run("status", func(b *testing.B) { run(b, status) })
	b.Run("users_me", func(b *testing.B) { run(b, me) })
	b.Run("users_me_token", func(b *testing.B) { run(b, byToken) })
}

// benchWriter is a ResponseWriter that allocates nothing of its own
// (httptest.ResponseRecorder costs about 8 allocations per request), so
// the benchmarks count only the service's allocations.
type benchWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}
func (w *benchWriter) reset() {
	clear(w.header)
	w.status = 0
	w.body = w.body[:0]
}

// BenchmarkBasicAuth is one Basic-authenticated request whose credentials
// verified recently (the common case of an API client) against the
// public /status. Run with
//
//	go test -run '^$' -bench BasicAuth -benchmem ./tests
func BenchmarkBasicAuth(b *testing.B) {
	s := newServer(b)
	s.logs.Discard()
	me := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	me.SetBasicAuth(adminEmail, adminPassword)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, me)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
