package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/middleware"
	"simpleapi/respond"
	"simpleapi/store"
)

// passkeyJSON is a passkey as the API shows it (handlers/openapi.yaml,
// Passkey), fields in key order. Its key material never leaves the store.
type passkeyJSON struct {
	CreatedAt  *string `json:"created_at"`
	ID         string  `json:"id"`
	LastUsedAt *string `json:"last_used_at"`
	Name       string  `json:"name"`
}

func toPasskeyJSON(k store.Passkey) passkeyJSON {
	out := passkeyJSON{CreatedAt: formatTime(k.CreatedAt), ID: auth.PasskeyID(k), Name: k.Name}
	if k.LastUsedAt != nil {
		out.LastUsedAt = formatTime(*k.LastUsedAt)
	}
	return out
}

// writeCeremonyOptions answers the options of a begun ceremony, which go
// to the browser's navigator.credentials.create() or .get() as they are.
// go-webauthn's types declare their fields in the specification's order;
// the wire format wants keys sorted, which decoding into maps and encoding
// again gives (numbers kept exactly as they were).
func writeCeremonyOptions(c *gin.Context, options any) {
	raw, err := json.Marshal(options)
	if err != nil {
		respond.Error(c, err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		respond.Error(c, err)
		return
	}
	sorted, err := json.Marshal(tree)
	if err != nil {
		respond.Error(c, err)
		return
	}
	respond.JSONBytes(c, http.StatusOK, sorted)
}

// readCredential reads the "credential" member of a finishing request:
// the JSON of the browser's PublicKeyCredential, an object; absent or
// null is none (the passkey service answers "credential missing").
func readCredential(body map[string]json.RawMessage) (json.RawMessage, error) {
	switch respond.Kind(body, "credential") {
	case respond.KindAbsent, respond.KindNull:
		return nil, nil
	}
	raw := body["credential"]
	if raw[0] != '{' {
		return nil, wrongFormat
	}
	return raw, nil
}

// finishBody decodes a finishing request's body and its credential.
func finishBody(c *gin.Context) (map[string]json.RawMessage, json.RawMessage, bool) {
	body, err := respond.DecodeObject(c)
	if err != nil {
		respond.Error(c, err)
		return nil, nil, false
	}
	credential, err := readCredential(body)
	if err != nil {
		respond.Error(c, err)
		return nil, nil, false
	}
	return body, credential, true
}

// handleListPasskeys lists the caller's passkeys, oldest first.
func handleListPasskeys() gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		out := make([]passkeyJSON, len(user.Factors.Passkeys))
		for i, k := range user.Factors.Passkeys {
			out[i] = toPasskeyJSON(k)
		}
		respond.JSON(c, http.StatusOK, out)
	}
}

// handleBeginPasskeyRegistration starts the registration of a passkey for
// the caller, from their session.
func handleBeginPasskeyRegistration(passkeys *auth.Passkeys) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		s, _ := middleware.CurrentSession(c)
		options, err := passkeys.BeginRegistration(c.Request.Context(), user, s.ID)
		if err != nil {
			respond.Error(c, err)
			return
		}
		writeCeremonyOptions(c, options)
	}
}

// handleFinishPasskeyRegistration stores the passkey the browser created,
// under the name the caller gave it.
func handleFinishPasskeyRegistration(passkeys *auth.Passkeys) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		s, _ := middleware.CurrentSession(c)
		body, credential, ok := finishBody(c)
		if !ok {
			return
		}
		name, err := optionalString(body, "name")
		if err != nil {
			respond.Error(c, err)
			return
		}
		key, err := passkeys.FinishRegistration(c.Request.Context(), user, s.ID, name, credential)
		if err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusCreated, toPasskeyJSON(key))
	}
}

// handleRemovePasskey removes one of the caller's passkeys.
func handleRemovePasskey(passkeys *auth.Passkeys) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		if err := passkeys.Remove(c.Request.Context(), user, c.Param("passkey_id")); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}

// handleBeginPasskeySecondFactor starts the check of a passkey that
// completes the pending sign-in of the cookie.
func handleBeginPasskeySecondFactor(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		pending, ok := pendingSignIn(c, d)
		if !ok {
			return
		}
		user, ok := pendingUser(c, d, pending)
		if !ok {
			return
		}
		options, err := d.passkeys.BeginSecondFactor(c.Request.Context(), user, pending.ID)
		if err != nil {
			respond.Error(c, err)
			return
		}
		writeCeremonyOptions(c, options)
	}
}

// handleFinishPasskeySecondFactor completes the pending sign-in of the
// cookie with the passkey the browser answered with: a new session at
// AAL2, as with a code.
func handleFinishPasskeySecondFactor(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		pending, ok := pendingSignIn(c, d)
		if !ok {
			return
		}
		_, credential, ok := finishBody(c)
		if !ok {
			return
		}
		user, ok := pendingUser(c, d, pending)
		if !ok {
			return
		}
		if err := d.passkeys.FinishSecondFactor(c.Request.Context(), user, pending.ID, credential, c.ClientIP()); err != nil {
			answerCheck(c, err)
			return
		}
		completeSignIn(c, d, pending, user, auth.MethodPasskey)
	}
}

// handleBeginPasskeySignIn starts a sign-in by passkey alone; anyone may.
func handleBeginPasskeySignIn(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		options, err := d.passkeys.BeginSignIn(c.Request.Context(), c.ClientIP())
		if err != nil {
			answerCheck(c, err)
			return
		}
		writeCeremonyOptions(c, options)
	}
}

// handleFinishPasskeySignIn signs in the owner of the passkey the browser
// answered with: a new session at AAL2 (a passkey is something the person
// has, unlocked by something they know or are), with the cookie rules of
// a login: a session the client brought is ended, never adopted.
func handleFinishPasskeySignIn(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		_, credential, ok := finishBody(c)
		if !ok {
			return
		}
		user, err := d.passkeys.FinishSignIn(c.Request.Context(), credential, c.ClientIP())
		if err != nil {
			answerCheck(c, err)
			return
		}
		endBroughtSession(c, d)
		startSignedIn(c, d, user, auth.MethodPasskey)
	}
}

// handleBeginPasskeyReauth starts the check of one of the caller's
// passkeys that re-authenticates their session.
func handleBeginPasskeyReauth(passkeys *auth.Passkeys) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		s, _ := middleware.CurrentSession(c)
		options, err := passkeys.BeginReauth(c.Request.Context(), user, s.ID)
		if err != nil {
			respond.Error(c, err)
			return
		}
		writeCeremonyOptions(c, options)
	}
}

// handleFinishPasskeyReauth re-authenticates the caller's session with
// the passkey the browser answered with, at AAL2; the token stays.
func handleFinishPasskeyReauth(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		user, _ := middleware.CurrentUser(c)
		s, _ := middleware.CurrentSession(c)
		_, credential, ok := finishBody(c)
		if !ok {
			return
		}
		if err := d.passkeys.FinishReauth(ctx, user, s.ID, credential, c.ClientIP()); err != nil {
			auth.Audit(ctx, d.log, slog.LevelWarn, auth.EventReauthFailed, slog.String("user_id", user.ID),
				slog.String("method", auth.MethodPasskey), slog.String("reason", store.ErrorMessage(err)))
			answerCheck(c, err)
			return
		}
		updated, err := d.sessions.Reauthenticated(ctx, s, store.AAL2)
		if err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventReauthSucceeded, slog.String("user_id", user.ID),
			slog.String("aal", store.AAL2), slog.String("method", auth.MethodPasskey))
		respond.JSON(c, http.StatusOK, reauthJSON{AAL: store.AAL2, AuthenticatedAt: formatTime(updated.AuthAt)})
	}
}
