package middleware

import (
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
)

func TestMatchTemplate(t *testing.T) {
	routes := gin.RoutesInfo{
		{Method: "GET", Path: "/api/v1/users/:id"},
		{Method: "GET", Path: "/api/v1/users/:id/sessions"},
		{Method: "PUT", Path: "/api/v1/users/me/password"},
		{Method: "GET", Path: "/static/*file"},
	}
	for path, want := range map[string]string{
		"/api/v1/users/42":          "/api/v1/users/:id",
		"/api/v1/users/me/sessions": "/api/v1/users/:id/sessions",
		"/api/v1/users/me/password": "/api/v1/users/me/password",
		"/api/v1/users/x/password":  "",
		"/api/v1/users":             "",
		"/api/v1/users/a/b/c":       "",
		"/static/css/site.css":      "/static/*file",
		"/":                         "",
	} {
		assert.Equal(t, want, matchTemplate(routes, path), path)
	}
}
