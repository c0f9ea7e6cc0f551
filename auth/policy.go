package auth

import "strings"

// Access is who may call a route: one of the kinds below, with any of the
// marks that Reauth and Enrolment add.
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

// Marks of an access, bits above its kind.
const (
	kindMask      Access = 0xff
	reauthMark    Access = 1 << 8
	enrolmentMark Access = 1 << 9
	noTokensMark  Access = 1 << 10
)

// Reauth marks a route that also needs a recent authentication: a
// session signed in or re-authenticated within REAUTH_MAX_AGE (see
// Policy). Routes that change how an account is protected carry it, so a
// stolen session cookie alone cannot.
func (a Access) Reauth() Access { return a | reauthMark }

// Enrolment marks a route that a caller who must enrol a second factor
// (MFA_REQUIRED_ROLES) may still use: what it takes to enrol.
func (a Access) Enrolment() Access { return a | enrolmentMark }

// NoTokens marks a route that a personal access token may not call:
// what manages tokens or sessions, changes a password or a factor, or
// signs in. A token is never a recent authentication, so routes marked
// Reauth refuse tokens too.
func (a Access) NoTokens() Access { return a | noTokensMark }

// AllowsTokens reports whether a request authenticated by an access
// token may call a route with access a.
func (a Access) AllowsTokens() bool { return a&(noTokensMark|reauthMark) == 0 }

// NeedsReauth reports whether a carries the Reauth mark.
func (a Access) NeedsReauth() bool { return a&reauthMark != 0 }

// DuringEnrolment reports whether a carries the Enrolment mark.
func (a Access) DuringEnrolment() bool { return a&enrolmentMark != 0 }

// Kind is a without its marks: Anyone, SignedIn, SelfOrAdmin or AdminOnly.
func (a Access) Kind() Access { return a & kindMask }

// Routes records who may call each route. The router fills it as it
// registers each route with its access, so a route and its rule are one
// declaration; the request pipeline reads it. It is not safe for
// concurrent writes: it is filled before the first request.
type Routes struct {
	access map[route]Access
	public map[string]bool // paths with a route that Anyone may call
}

// route is a method and a path template ("/api/v1/users/:id"). A struct
// key, rather than the two joined in a string, is looked up on every
// request without building the string.
type route struct{ method, path string }

// NewRoutes returns an empty table.
func NewRoutes() *Routes {
	return &Routes{access: map[route]Access{}, public: map[string]bool{}}
}

// Add declares who may call method on the path template. HEAD follows GET.
// A route may be declared without being served (a route of another
// authentication mode): its path stays public or protected alike, and the
// router answers 404.
func (r *Routes) Add(method, path string, a Access) {
	r.access[route{method, path}] = a
	if a.Kind() == Anyone {
		r.public[path] = true
	}
}

// AccessFor returns the access rule of a route and whether it has one.
func (r *Routes) AccessFor(method, path string) (Access, bool) {
	if method == "HEAD" {
		method = "GET"
	}
	a, ok := r.access[route{method, path}]
	return a, ok
}

// IsPublic reports whether path, with any trailing slash removed, is
// exactly the path of a route that anyone may call; such a path skips
// authentication whatever the method.
func (r *Routes) IsPublic(path string) bool {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return r.public[path]
}

// Allowed reports whether a caller with the given role and id may use a
// route with access a; targetID is the route's :id ("me" or "" when none).
func Allowed(a Access, isAdmin bool, callerID, targetID string) bool {
	switch a.Kind() {
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
