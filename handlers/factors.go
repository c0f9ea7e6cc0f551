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

// totpEnrolmentJSON is the answer that starts a TOTP enrolment
// (handlers/openapi.yaml, TOTPEnrolment): shown once.
type totpEnrolmentJSON struct {
	OtpauthURI string `json:"otpauth_uri"`
	Secret     string `json:"secret"`
}

// recoveryCodesJSON carries new recovery codes, shown once.
type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// factorStatusJSON is what second factors a user has (handlers/openapi.yaml,
// SecondFactors).
type factorStatusJSON struct {
	Methods           []string `json:"methods"`
	RecoveryCodesLeft int      `json:"recovery_codes_left"`
	TOTP              string   `json:"totp"`
}

// handleGetSecondFactors says which second factors a user has.
func handleGetSecondFactors(users store.UserStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := targetID(c)
		u, ok := middleware.CurrentUser(c)
		if !ok || u.ID != id {
			var err error
			if u, err = users.UserByID(c.Request.Context(), id); err != nil {
				respond.Error(c, err)
				return
			}
		}
		st := auth.StatusOf(u.Factors)
		respond.JSON(c, http.StatusOK, factorStatusJSON{Methods: st.Methods, RecoveryCodesLeft: st.RecoveryCodesLeft, TOTP: st.TOTP})
	}
}

// handleStartTOTP gives the caller a new TOTP secret to confirm.
func handleStartTOTP(factors *auth.SecondFactors) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		e, err := factors.StartTOTP(c.Request.Context(), user)
		if err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusCreated, totpEnrolmentJSON{OtpauthURI: e.URI, Secret: e.Secret})
	}
}

// handleConfirmTOTP activates the caller's TOTP secret with a code from
// the app, and answers the recovery codes.
func handleConfirmTOTP(factors *auth.SecondFactors) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		code, err := optionalString(body, "code")
		if err != nil {
			respond.Error(c, err)
			return
		}
		codes, err := factors.ConfirmTOTP(c.Request.Context(), user, code, c.ClientIP())
		if err != nil {
			answerCheck(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, recoveryCodesJSON{RecoveryCodes: codes})
	}
}

// handleRemoveTOTP removes the caller's TOTP secret.
func handleRemoveTOTP(factors *auth.SecondFactors) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		if err := factors.RemoveTOTP(c.Request.Context(), user); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}

// handleRegenerateRecoveryCodes replaces the caller's recovery codes.
func handleRegenerateRecoveryCodes(factors *auth.SecondFactors) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		codes, err := factors.RegenerateRecoveryCodes(c.Request.Context(), user)
		if err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, recoveryCodesJSON{RecoveryCodes: codes})
	}
}

// handleRemoveSecondFactors removes every second factor of a user and
// ends their sessions (admins).
func handleRemoveSecondFactors(factors *auth.SecondFactors) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := factors.RemoveAll(c.Request.Context(), targetID(c)); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}

// optionalString reads a member that must be a string when present:
// absent or null is "", anything else but a string is "Wrong format".
func optionalString(body map[string]json.RawMessage, key string) (string, error) {
	switch respond.Kind(body, key) {
	case respond.KindAbsent, respond.KindNull:
		return "", nil
	case respond.KindString:
		s, _ := respond.String(body, key)
		return s, nil
	default:
		return "", store.Errorf(store.EINVALID, respond.MsgWrongFormat)
	}
}
