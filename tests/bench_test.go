package tests

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAuthOverhead compares an authenticated request with a public
// one through the same router (no network): the difference is what
// session authentication costs. Run with
//
//	go test -run '^$' -bench AuthOverhead -benchmem ./tests
func BenchmarkAuthOverhead(b *testing.B) {
	s := newSessionServer(b)
	cookie := s.adminCookie()
	s.logs.discard = true // lines are still formatted, as in production
	status := httptest.NewRequest("GET", "/api/v1/status", nil)
	me := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	me.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})

	run := func(b *testing.B, req *http.Request) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	}
	b.Run("status", func(b *testing.B) { run(b, status) })
	b.Run("users_me", func(b *testing.B) { run(b, me) })
}

// BenchmarkBasicAuth is one Basic-authenticated request whose credentials
// verified recently (the common case of an API client) against the
// public /status. Run with
//
//	go test -run '^$' -bench BasicAuth -benchmem ./tests
func BenchmarkBasicAuth(b *testing.B) {
	s := newServer(b)
	s.logs.discard = true
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
