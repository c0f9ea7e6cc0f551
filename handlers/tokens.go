package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/middleware"
	"simpleapi/respond"
	"simpleapi/store"
)

// tokenJSON is the access token object (handlers/openapi.yaml,
// AccessToken), fields in key order. It never holds the secret.
type tokenJSON struct {
	CreatedAt  *string `json:"created_at"`
	Expired    bool    `json:"expired"`
	ExpiresAt  *string `json:"expires_at"`
	ID         string  `json:"id"`
	LastUsedAt *string `json:"last_used_at"`
	LastUsedIP *string `json:"last_used_ip"`
	Name       string  `json:"name"`
	Scope      string  `json:"scope"`
}

func toTokenJSON(t store.AccessToken, live bool) tokenJSON {
	j := tokenJSON{
		CreatedAt:  formatTime(t.CreatedAt),
		Expired:    !live,
		ExpiresAt:  formatTime(t.ExpiresAt),
		ID:         t.ID,
		LastUsedAt: formatTime(t.LastUsedAt),
		Name:       t.Name,
		Scope:      t.Scope,
	}
	if t.LastUsedIP != "" {
		ip := t.LastUsedIP
		j.LastUsedIP = &ip
	}
	return j
}

// newTokenJSON is the answer to a creation: the token's fields and, this
// once, its secret.
type newTokenJSON struct {
	CreatedAt *string `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Scope     string  `json:"scope"`
	Token     string  `json:"token"`
}

// handleCreateToken issues an access token to the caller:
// {"name", "scope", "expires_in_days"} → 201 with the secret.
func handleCreateToken(tokens *auth.Tokens) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		in, err := newTokenInput(body)
		if err != nil {
			respond.Error(c, err)
			return
		}
		tok, secret, err := tokens.Create(c.Request.Context(), user.ID, in)
		if err != nil {
			respond.Error(c, err)
			return
		}
		// The secret must not be kept by a cache on the way.
		c.Header("Cache-Control", "no-store")
		respond.JSON(c, http.StatusCreated, newTokenJSON{
			CreatedAt: formatTime(tok.CreatedAt),
			ExpiresAt: formatTime(tok.ExpiresAt),
			ID:        tok.ID,
			Name:      tok.Name,
			Scope:     tok.Scope,
			Token:     secret,
		})
	}
}

// newTokenInput reads a creation's body: name and scope strings, and
// expires_in_days a whole number (absent or null: the default).
func newTokenInput(body map[string]json.RawMessage) (auth.NewToken, error) {
	var in auth.NewToken
	var ok bool
	if in.Name, ok = respond.String(body, "name"); !ok {
		return in, store.Errorf(store.EINVALID, auth.MsgTokenName)
	}
	if in.Scope, ok = respond.String(body, "scope"); !ok {
		return in, store.Errorf(store.EINVALID, auth.MsgTokenScope)
	}
	if k := respond.Kind(body, "expires_in_days"); k != respond.KindAbsent && k != respond.KindNull {
		var days float64
		if err := json.Unmarshal(body["expires_in_days"], &days); err != nil || days != float64(int(days)) ||
			days < 1 || days > auth.MaxTokenDays {
			return in, store.Errorf(store.EINVALID, auth.MsgTokenDays)
		}
		in.ExpiresInDays = int(days)
	}
	return in, nil
}

// handleListTokens lists the tokens of the route's user (:id, or the
// caller on /users/me/tokens), without their secrets.
func handleListTokens(tokens *auth.Tokens) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := targetID(c)
		if id == "" { // /users/me/tokens
			user, _ := middleware.CurrentUser(c)
			id = user.ID
		}
		list, err := tokens.List(c.Request.Context(), id)
		if err != nil {
			respond.Error(c, err)
			return
		}
		out := make([]tokenJSON, len(list))
		for i, t := range list {
			out[i] = toTokenJSON(t, tokens.Live(t))
		}
		respond.JSON(c, http.StatusOK, out)
	}
}

// handleRevokeMyToken revokes one of the caller's tokens; another user's
// token is 404, exactly like one that does not exist.
func handleRevokeMyToken(tokens *auth.Tokens) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		if err := tokens.Revoke(c.Request.Context(), user.ID, c.Param("token_id")); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}

// handleRevokeUserTokens revokes every token of the user :id (an admin's).
func handleRevokeUserTokens(tokens *auth.Tokens) gin.HandlerFunc {
	return func(c *gin.Context) {
		n, err := tokens.RevokeUserTokens(c.Request.Context(), targetID(c), "revoked_by_admin")
		if err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, revokedJSON{Revoked: n})
	}
}
