package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
