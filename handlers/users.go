package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/middleware"
	"simpleapi/respond"
	"simpleapi/store"
)

// timeFormat is the wire format of times: UTC, no zone, no fraction.
const timeFormat = "2006-01-02T15:04:05"

// userJSON is the user object (handlers/openapi.yaml, User), fields in key
// order: times in UTC as timeFormat, null when unset, and so is a legacy
// user's missing email. The password hash is not part of it. Its nullable
// fields point into its own copies of their values (or at the store's
// names), so a user object is one allocation besides its times' text.
type userJSON struct {
	CreatedAt *string `json:"created_at"`
	Email     *string `json:"email"`
	FirstName *string `json:"first_name"`
	ID        string  `json:"id"`
	LastName  *string `json:"last_name"`
	Role      string  `json:"role"`
	UpdatedAt *string `json:"updated_at"`

	createdAt, email, updatedAt string // what CreatedAt, Email and UpdatedAt point to
}

func toUserJSON(u store.User) *userJSON {
	out := &userJSON{
		FirstName: u.FirstName,
		ID:        u.ID,
		LastName:  u.LastName,
		Role:      string(u.Role),
		email:     u.Email,
	}
	if out.email != "" {
		out.Email = &out.email
	}
	if !u.CreatedAt.IsZero() {
		out.createdAt = timeText(u.CreatedAt)
		out.CreatedAt = &out.createdAt
	}
	if !u.UpdatedAt.IsZero() {
		out.updatedAt = timeText(u.UpdatedAt)
		out.UpdatedAt = &out.updatedAt
	}
	return out
}

// formatTime is t in timeFormat, or nil (null) for the zero time.
func formatTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := timeText(t)
	return &s
}

// timeText is t in timeFormat: RFC 3339 in UTC without its "Z", since
// Format writes RFC 3339 without parsing a layout (a few hundred
// instructions instead of about two thousand).
func timeText(t time.Time) string {
	return strings.TrimSuffix(t.UTC().Format(time.RFC3339), "Z")
}

// writeUser answers with the user object.
func writeUser(c *gin.Context, status int, u store.User) {
	respond.JSON(c, status, toUserJSON(u))
}

// targetID resolves the :id of a users route, where "me" is the caller.
func targetID(c *gin.Context) string {
	id := c.Param("id")
	if id == "me" {
		if caller, ok := middleware.CurrentUser(c); ok {
			return caller.ID
		}
	}
	return id
}

func handleListUsers(users store.UserStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		all, err := users.ListUsers(c.Request.Context())
		if err != nil {
			respond.Error(c, err)
			return
		}
		out := make([]*userJSON, len(all))
		for i, u := range all {
			out[i] = toUserJSON(u)
		}
		respond.JSON(c, http.StatusOK, out)
	}
}

func handleGetUser(users store.UserStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := targetID(c)
		// The caller was read fresh for this request already.
		if caller, ok := middleware.CurrentUser(c); ok && caller.ID == id {
			writeUser(c, http.StatusOK, caller)
			return
		}
		u, err := users.UserByID(c.Request.Context(), id)
		if err != nil {
			respond.Error(c, err)
			return
		}
		writeUser(c, http.StatusOK, u)
	}
}

// wrongFormat is the 400 for any body that is not what a route reads.
var wrongFormat = store.Errorf(store.EINVALID, respond.MsgWrongFormat)

// optionalName reads first_name or last_name: absent or null is nil, a
// string is applied, anything else is a format error.
func optionalName(body map[string]json.RawMessage, key string) (*string, error) {
	switch respond.Kind(body, key) {
	case respond.KindAbsent, respond.KindNull:
		return nil, nil
	case respond.KindString:
		s, _ := respond.String(body, key)
		return &s, nil
	default:
		return nil, wrongFormat
	}
}

// optionalRole reads role: absent or null is nil; a non-string is kept as
// its raw JSON so that validation answers "invalid role".
func optionalRole(body map[string]json.RawMessage) *string {
	switch respond.Kind(body, "role") {
	case respond.KindAbsent, respond.KindNull:
		return nil
	case respond.KindString:
		s, _ := respond.String(body, "role")
		return &s
	default:
		s := string(body["role"])
		return &s
	}
}

// missing reports whether a required member is absent, null or "", the
// old service's test for "missing".
func missing(body map[string]json.RawMessage, key string) bool {
	switch respond.Kind(body, key) {
	case respond.KindAbsent, respond.KindNull:
		return true
	}
	return string(body[key]) == `""`
}

// handleCreateUser checks the body in the order handlers/openapi.yaml gives.
func handleCreateUser(accounts *auth.Accounts) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		if missing(body, "email") {
			respond.Error(c, store.Errorf(store.EINVALID, auth.MsgEmailMissing))
			return
		}
		if missing(body, "password") {
			respond.Error(c, store.Errorf(store.EINVALID, auth.MsgPasswordMissing))
			return
		}
		email, okEmail := respond.String(body, "email")
		password, okPassword := respond.String(body, "password")
		firstName, errFirst := optionalName(body, "first_name")
		lastName, errLast := optionalName(body, "last_name")
		if !okEmail || !okPassword || errFirst != nil || errLast != nil {
			respond.Error(c, wrongFormat)
			return
		}
		in := auth.NewUser{Email: email, Password: password, FirstName: firstName, LastName: lastName,
			Role: optionalRole(body)}
		u, err := accounts.Create(c.Request.Context(), in)
		if err != nil {
			respond.Error(c, err)
			return
		}
		writeUser(c, http.StatusCreated, u)
	}
}

// handleUpdateUser applies an update: only names (and, for admins, role).
func handleUpdateUser(users store.UserStore, accounts *auth.Accounts) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := targetID(c)
		if _, err := users.UserByID(c.Request.Context(), id); err != nil {
			respond.Error(c, err)
			return
		}
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		var ch auth.Changes
		if ch.FirstName, err = optionalName(body, "first_name"); err != nil {
			respond.Error(c, err)
			return
		}
		if ch.LastName, err = optionalName(body, "last_name"); err != nil {
			respond.Error(c, err)
			return
		}
		ch.Role = optionalRole(body)
		ch.StaleAuth = !middleware.RecentlyAuthenticated(c)
		caller, _ := middleware.CurrentUser(c)
		u, err := accounts.Update(c.Request.Context(), caller, id, ch)
		if err != nil {
			respond.Error(c, err)
			return
		}
		writeUser(c, http.StatusOK, u)
	}
}

func handleDeleteUser(accounts *auth.Accounts) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := accounts.Delete(c.Request.Context(), targetID(c)); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}
