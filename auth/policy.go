package auth

import "strings"

// Access is who may call a route.
type Access int

const (
	// Anyone may call the route, without credentials.
	Anyone Access = iota
	// SignedIn routes need any authenticated user.
	SignedIn
	// SelfOrAdmin routes name a user by :id ("me" for the caller): an
	// admin may act on anyone, a user only on themselves.
	SelfOrAdmin
	// AdminOnly routes are for admins.
	AdminOnly
)

// Route names one route: a method and a path template.
type Route struct{ Method, Path string }

// Policy is the access table of SPEC 3: every route the router serves
// (HEAD follows GET). A route missing here is refused, so adding a route
// without deciding who may call it fails closed.
var Policy = map[Route]Access{
	{"GET", "/api/v1/status"}:       Anyone,
	{"GET", "/api/v1/unauthorized"}: Anyone,
	{"GET", "/api/v1/forbidden"}:    Anyone,
	{"GET", "/api/v1/openapi.yaml"}: Anyone,

	{"GET", "/api/v1/stats"}:        SignedIn,
	{"GET", "/api/v1/users"}:        AdminOnly,
	{"POST", "/api/v1/users"}:       AdminOnly,
	{"GET", "/api/v1/users/:id"}:    SelfOrAdmin,
	{"PUT", "/api/v1/users/:id"}:    SelfOrAdmin,
	{"DELETE", "/api/v1/users/:id"}: SelfOrAdmin,

	{"POST", "/api/v1/auth_session/login"}:          Anyone,
	{"DELETE", "/api/v1/auth_session/logout"}:       SignedIn,
	{"GET", "/api/v1/auth_session/sessions"}:        SignedIn,
	{"DELETE", "/api/v1/auth_session/sessions"}:     SignedIn,
	{"DELETE", "/api/v1/auth_session/sessions/:id"}: SignedIn,
	{"PUT", "/api/v1/users/me/password"}:            SignedIn,
	{"GET", "/api/v1/users/:id/sessions"}:           AdminOnly,
	{"DELETE", "/api/v1/users/:id/sessions"}:        AdminOnly,
}

// AccessFor returns the access rule of a route and whether it has one.
func AccessFor(method, route string) (Access, bool) {
	if method == "HEAD" {
		method = "GET"
	}
	a, ok := Policy[Route{method, route}]
	return a, ok
}

// Allowed reports whether a caller with the given role and id may use a
// route with access a; targetID is the route's :id ("me" or "" when none).
func Allowed(a Access, isAdmin bool, callerID, targetID string) bool {
	switch a {
	case Anyone, SignedIn:
		return true
	case SelfOrAdmin:
		return isAdmin || targetID == "me" || targetID == callerID
	case AdminOnly:
		return isAdmin
	default:
		return false
	}
}

// PublicPaths skip authentication (SPEC 2). Matching is exact; an entry
// ending in "*" covers every path with that prefix.
var PublicPaths = []string{
	"/api/v1/status",
	"/api/v1/unauthorized",
	"/api/v1/forbidden",
	"/api/v1/auth_session/login",
	"/api/v1/openapi.yaml",
}

// IsPublic reports whether path, with any trailing slash removed, is one of
// public.
func IsPublic(public []string, path string) bool {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	for _, p := range public {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if p == path {
			return true
		}
	}
	return false
}
