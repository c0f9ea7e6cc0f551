package tests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"simpleapi/store/postgres/pgtest"
)

// sharedStores are the settings of users in PostgreSQL (a schema of the
// benchmark's own) and sessions in Redis (a key prefix of its own).
func sharedStores(b testing.TB) []string {
	return []string{
		"USER_STORE", "postgres", "DATABASE_URL", pgtest.Schema(b),
		"SESSION_STORE", "redis",
		"REDIS_URL", "redis://127.0.0.1:6379/0?key_prefix=" + url.QueryEscape(redisPrefix(b)),
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
			s.logs.discard = true
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

// BenchmarkUsersMeHTTP is the same request over HTTP to a server process,
// from parallel clients: the ns/op of the two configurations give their
// throughput ratio (the README's target: Redis and PostgreSQL at least
// half the in-memory throughput). Run with
//
//	go test -run '^$' -bench UsersMeHTTP -cpu 8 ./tests
func BenchmarkUsersMeHTTP(b *testing.B) {
	for _, c := range []struct {
		name string
		env  func(testing.TB) map[string]string
	}{
		{"memory", func(b testing.TB) map[string]string {
			env := testEnv(b.TempDir())
			env["AUTH_TYPE"], env["SESSION_STORE"] = "session_db_auth", "memory"
			return env
		}},
		{"redis_postgres", func(b testing.TB) map[string]string {
			env := testEnv(b.TempDir())
			env["AUTH_TYPE"] = "session_db_auth"
			kv := sharedStores(b)
			for i := 0; i < len(kv); i += 2 {
				env[kv[i]] = kv[i+1]
			}
			return env
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			env := c.env(b)
			env["LOG_LEVEL"] = "error"
			p := startProcess(b, env)
			cookie := loginOn(b, p, adminEmail, adminPassword)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", p.url("/api/v1/users/me"), nil)
				req.Header.Set("Cookie", cookie)
				for pb.Next() {
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
