package tests

import (
	"encoding/json"
	"net/http"
	"testing"
)

// checkAnswer asserts what every answer to a body must be: a known status,
// a JSON body, and an error object on every 4xx.
func checkAnswer(t *testing.T, rec interface {
	Result() *http.Response
}, body []byte, allowed ...int) {
	t.Helper()
	resp := rec.Result()
	ok := false
	for _, s := range allowed {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		t.Fatalf("status %d for body %q", resp.StatusCode, body)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("answer is not a JSON object: %v", err)
	}
	if resp.StatusCode >= 400 {
		if _, ok := v["error"].(string); !ok || len(v) != 1 {
			t.Fatalf("error answer %v is not {\"error\": msg}", v)
		}
	}
}

var userBodySeeds = []string{
	``, `{}`, `null`, `[]`, `"x"`, `1`, `{"email":`, `{"email":"a@b.c","password":"password1"}`,
	`{"email":"a@b.c","password":"password1","role":"admin"}`, `{"email":"a@b.c","password":"password1","role":5}`,
	`{"email":5,"password":"password1"}`, `{"email":"a@b.c","password":"short"}`, `{"email":"a@@b","password":"password1"}`,
	`{"first_name":"X","last_name":null}`, `{"first_name":{},"last_name":[]}`, `{"email":"\u0000@b.c","password":"\ud800password"}`,
	`{"email":"a@b.c","password":"password1"} trailing`, `{"email":"a@b.c","email":"b@c.d","password":"password1"}`,
}

func FuzzCreateUserBody(f *testing.F) {
	for _, s := range userBodySeeds {
		f.Add([]byte(s))
	}
	s := newServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		s.t = t
		before := countUsers(t, s)
		rec := s.do("POST", "/api/v1/users", string(body), asAdmin())
		checkAnswer(t, rec, body, 201, 400, 409, 413)
		after := countUsers(t, s)
		if rec.Code == 201 && after != before+1 || rec.Code != 201 && after != before {
			t.Fatalf("users %d → %d after %d", before, after, rec.Code)
		}
	})
}

func FuzzUpdateUserBody(f *testing.F) {
	for _, s := range userBodySeeds {
		f.Add([]byte(s))
	}
	s := newServer(f)
	id := s.createUser("target@example.com").ID
	f.Fuzz(func(t *testing.T, body []byte) {
		s.t = t
		rec := s.do("PUT", "/api/v1/users/"+id, string(body), asAdmin())
		checkAnswer(t, rec, body, 200, 400, 409, 413)
		// The user is still there, with the email it had.
		check := s.do("GET", "/api/v1/users/"+id, "", asAdmin())
		if check.Code != 200 || decodeUser(t, check.Body.Bytes()).Email == nil {
			t.Fatalf("user damaged by body %q: %d %s", body, check.Code, check.Body.String())
		}
	})
}

func countUsers(t *testing.T, s *server) int {
	t.Helper()
	rec := s.do("GET", "/api/v1/stats", "", asAdmin())
	var v struct{ Users int }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		t.Fatalf("stats: %d %s", rec.Code, rec.Body.String())
	}
	return v.Users
}
