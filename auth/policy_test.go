package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"simpleapi/store"
)

func TestRoutes(t *testing.T) {
	r := NewRoutes()
	r.Add("GET", "/api/v1/status", Anyone)
	r.Add("GET", "/api/v1/users/:id", SelfOrAdmin)
	r.Add("DELETE", "/api/v1/users/:id", AdminOnly)

	a, ok := r.AccessFor("HEAD", "/api/v1/users/:id")
	assert.True(t, ok)
	assert.Equal(t, SelfOrAdmin, a, "HEAD follows GET")
	a, ok = r.AccessFor("DELETE", "/api/v1/users/:id")
	assert.True(t, ok)
	assert.Equal(t, AdminOnly, a)
	_, ok = r.AccessFor("PUT", "/api/v1/users/:id")
	assert.False(t, ok, "an undeclared route has no rule")

	assert.True(t, r.IsPublic("/api/v1/status"))
	assert.True(t, r.IsPublic("/api/v1/status/"))
	for _, p := range []string{"/api/v1/status/x", "/api/v1/statu", "/api/v1/STATUS", "/api/v1/users/:id", "/", ""} {
		assert.False(t, r.IsPublic(p), p)
	}
}

func TestAllowed(t *testing.T) {
	assert.True(t, Allowed(Anyone, false, "", ""))
	assert.True(t, Allowed(SignedIn, false, "u1", ""))
	assert.True(t, Allowed(SelfOrAdmin, false, "u1", "me"))
	assert.True(t, Allowed(SelfOrAdmin, false, "u1", "u1"))
	assert.False(t, Allowed(SelfOrAdmin, false, "u1", "u2"))
	assert.True(t, Allowed(SelfOrAdmin, true, "u1", "u2"))
	assert.False(t, Allowed(AdminOnly, false, "u1", ""))
	assert.True(t, Allowed(AdminOnly, true, "u1", ""))
	assert.False(t, Allowed(Access(99), true, "u1", ""), "an unknown rule fails closed")
}

func TestAccessMarks(t *testing.T) {
	a := SelfOrAdmin.Reauth().Enrolment()
	assert.Equal(t, SelfOrAdmin, a.Kind())
	assert.True(t, a.NeedsReauth())
	assert.True(t, a.DuringEnrolment())
	assert.False(t, SelfOrAdmin.NeedsReauth())
	assert.False(t, SelfOrAdmin.DuringEnrolment())
	assert.True(t, Allowed(a, false, "u1", "me"), "marks leave the kind's rule as it is")
	assert.False(t, Allowed(AdminOnly.Reauth(), false, "u1", ""))

	r := NewRoutes()
	r.Add("POST", "/api/v1/x", Anyone.Enrolment())
	assert.True(t, r.IsPublic("/api/v1/x"), "a marked Anyone route is still public")
}

func TestPolicyRecent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := Policy{ReauthMaxAge: 300 * time.Second, Now: func() time.Time { return now }}
	s := store.Session{ID: "s1", CreatedAt: now.Add(-300 * time.Second)}
	assert.True(t, p.Recent(s), "exactly REAUTH_MAX_AGE old")
	s.CreatedAt = now.Add(-301 * time.Second)
	assert.False(t, p.Recent(s), "a second older")
	s.AuthAt = now.Add(-10 * time.Second)
	assert.True(t, p.Recent(s), "AuthAt, when set, wins over CreatedAt")
	assert.True(t, p.Recent(store.Session{}), "Basic: no session, the password was just checked")
	assert.True(t, Policy{Now: p.Now}.Recent(store.Session{ID: "s", CreatedAt: now.Add(-DefaultReauthMaxAge)}))
}

func TestPolicyCheck(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := Policy{ReauthMaxAge: time.Minute, MFARoles: []store.Role{store.RoleAdmin}, Now: func() time.Time { return now }}
	stale := store.Session{ID: "s1", CreatedAt: now.Add(-time.Hour)}
	fresh := store.Session{ID: "s2", CreatedAt: now}
	admin := store.User{ID: "a1", Role: store.RoleAdmin}
	enrolled := admin
	enrolled.Factors.TOTP = &store.TOTP{Confirmed: true}
	user := store.User{ID: "u1", Role: store.RoleUser}

	code := func(err error) string {
		if err == nil {
			return ""
		}
		return store.ErrorMessage(err)
	}
	for _, tc := range []struct {
		name   string
		a      Access
		u      store.User
		s      store.Session
		target string
		want   string
	}{
		{"plain route, stale session", SignedIn, user, stale, "", ""},
		{"reauth route, fresh", SignedIn.Reauth(), user, fresh, "", ""},
		{"reauth route, stale", SignedIn.Reauth(), user, stale, "", MsgReauthRequired},
		{"must enrol, other route", SignedIn, admin, fresh, "", MsgSecondFactorRequired},
		{"must enrol, enrolment route", SignedIn.Enrolment(), admin, fresh, "", ""},
		{"must enrol, own id", SelfOrAdmin.Enrolment(), admin, fresh, "a1", ""},
		{"must enrol, me", SelfOrAdmin.Enrolment(), admin, fresh, "me", ""},
		{"must enrol, someone else", SelfOrAdmin.Enrolment(), admin, fresh, "u1", MsgSecondFactorRequired},
		{"must enrol first, then reauth", SignedIn.Reauth(), admin, stale, "", MsgSecondFactorRequired},
		{"enrolment and reauth", SignedIn.Reauth().Enrolment(), admin, stale, "", MsgReauthRequired},
		{"enrolled admin", AdminOnly, enrolled, fresh, "", ""},
		{"role not listed", SignedIn, user, fresh, "", ""},
	} {
		assert.Equal(t, tc.want, code(p.Check(tc.a, tc.u, tc.s, tc.target)), tc.name)
	}
	pending := enrolled
	pending.Factors.TOTP = &store.TOTP{} // unconfirmed: not enrolled yet
	assert.True(t, p.MustEnrol(pending))
}
