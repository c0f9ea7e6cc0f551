package auth

import (
	"slices"
	"time"

	"simpleapi/store"
)

// Messages of the assurance rules.
const (
	MsgReauthRequired       = "reauthentication required"
	MsgSecondFactorRequired = "second factor required"
)

// DefaultReauthMaxAge is how long an authentication counts as recent
// (REAUTH_MAX_AGE).
const DefaultReauthMaxAge = 5 * time.Minute

// Policy is what the request pipeline asks of a caller beyond the kind of
// a route's access: a recent authentication on routes marked Reauth, and
// an enrolled second factor for the roles that must have one.
type Policy struct {
	ReauthMaxAge time.Duration // 0 means DefaultReauthMaxAge
	// MFARoles must enrol a second factor before they use anything but
	// the routes marked Enrolment (MFA_REQUIRED_ROLES).
	MFARoles []store.Role
	Now      func() time.Time
}

// Recent reports whether the authentication behind session s is recent:
// its last (re-)authentication, AuthAt (CreatedAt when unset), is at most
// ReauthMaxAge old. A request without a session (Basic authentication)
// checked its password just now, so it is recent.
func (p Policy) Recent(s store.Session) bool {
	if s.ID == "" {
		return true
	}
	maxAge := p.ReauthMaxAge
	if maxAge <= 0 {
		maxAge = DefaultReauthMaxAge
	}
	return !p.now().After(AuthTime(s).Add(maxAge))
}

// MustEnrol reports whether u must enrol a second factor before using
// routes not marked Enrolment.
func (p Policy) MustEnrol(u store.User) bool {
	return slices.Contains(p.MFARoles, u.Role) && !u.Factors.Enrolled()
}

// Check applies the marks of a to a caller (u, with session s; the zero
// session for Basic) that the kind of a already allows; targetID is the
// route's :id ("" when none). A caller who must enrol may use an Enrolment
// route only for their own account.
func (p Policy) Check(a Access, u store.User, s store.Session, targetID string) error {
	if p.MustEnrol(u) && (!a.DuringEnrolment() || targetID != "" && targetID != "me" && targetID != u.ID) {
		return store.Errorf(store.EFORBIDDEN, MsgSecondFactorRequired)
	}
	if a.NeedsReauth() && !p.Recent(s) {
		return store.Errorf(store.EFORBIDDEN, MsgReauthRequired)
	}
	return nil
}

func (p Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// AuthTime is when session s was last authenticated: AuthAt, or CreatedAt
// for a session that was never re-authenticated.
func AuthTime(s store.Session) time.Time {
	if s.AuthAt.IsZero() {
		return s.CreatedAt
	}
	return s.AuthAt
}

// AAL is the assurance level of s, AAL1 for sessions stored before levels
// existed.
func AAL(s store.Session) string {
	if s.AAL == "" {
		return store.AAL1
	}
	return s.AAL
}
