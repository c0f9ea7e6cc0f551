package tests

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"simpleapi/internal/testkit"
	"simpleapi/store/postgres/pgtest"
)

// sharedStores are the settings of users in PostgreSQL (a schema of the
// benchmark's own) and sessions in Redis (a key prefix of its own).
func sharedStores(b testing.TB) []string {
	return []string{
		"USER_STORE", "postgres", "DATABASE_URL", pgtest.Schema(b),
		"SESSION_STORE", "redis",
		"REDIS_URL", testkit.RedisPrefixURL(b, "simpleapi-e2e"),
		"SESSION_SECRET", sharedSecret,
	}
}

// BenchmarkUsersMeStores is an authenticated GET /api/v1/users/me through
// the router (no network) with sessions in memory and users in the JSON
// file, and with sessions in Redis and users in PostgreSQL. Run with
//
//	go test -run '^$' -bench UsersMeStores -benchmem ./tests
func BenchmarkUsersMeStores(b *testing.B) {
	for _, c := range []struct {
		name string
		kv   func(testing.TB) []string
	}{
		{"memory", func(testing.TB) []string { return []string{"SESSION_STORE", "memory"} }},
		{"redis_postgres", sharedStores},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newSessionServer(b, c.kv(b)...)
			s.logs.Discard()
			cookie := s.adminCookie()
			me := httptest.NewRequest("GET", "/api/v1/users/me", nil)
			me.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, me)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
