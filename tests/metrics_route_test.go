package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A wrong method on a real route is counted and logged under that route's
// template, so an operator sees which endpoint gets the 405s; only paths
// that match no route are "unmatched".
func TestMetrics405LabelledWithRoute(t *testing.T) {
	s := newServer(t, "AUTH_TYPE", "basic_auth")
	admin := s.userByEmail(adminEmail)
	before := scrape(t, s.app.Metrics())

	require.Equal(t, 405, s.do("PATCH", "/api/v1/users/"+admin.ID, "", asAdmin()).Code)
	require.Equal(t, 405, s.do("PATCH", "/api/v1/users/me/", "", asAdmin()).Code)
	require.Equal(t, 405, s.do("POST", "/api/v1/status", "").Code)
	require.Equal(t, 405, s.do("GET", "/api/v1/users/me/password", "", asAdmin()).Code)
	require.Equal(t, 404, s.do("GET", "/api/v1/users/me/nothing", "", asAdmin()).Code)

	after := scrape(t, s.app.Metrics())
	delta := func(labels ...string) float64 {
		return after.value(mRequests, labels...) - before.value(mRequests, labels...)
	}
	assert.Equal(t, 2.0, delta("route", "/api/v1/users/:id", "method", "PATCH", "status", "405"))
	assert.Equal(t, 1.0, delta("route", "/api/v1/status", "method", "POST", "status", "405"))
	assert.Equal(t, 1.0, delta("route", "/api/v1/users/me/password", "method", "GET", "status", "405"),
		"the literal route, not /users/:id")
	assert.Equal(t, 1.0, delta("route", "unmatched", "status", "404"))
	assert.Equal(t, 0.0, delta("route", "unmatched", "status", "405"))

	routes := map[string]int{}
	for _, lines := range accessLines(t, s.logs.String()) {
		for _, l := range lines {
			if l["status"] == 405.0 {
				routes[l["route"].(string)]++
			}
		}
	}
	assert.Equal(t, map[string]int{"/api/v1/users/:id": 2, "/api/v1/status": 1, "/api/v1/users/me/password": 1}, routes,
		"the access log names the same routes")
}
