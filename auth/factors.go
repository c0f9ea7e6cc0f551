package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"log/slog"
	"time"

	"simpleapi/metrics"
	"simpleapi/store"
)

// Methods of completing a sign-in with a second factor, as the API names
// them (the "methods" of the login answer).
const (
	MethodTOTP         = metrics.FactorTOTP
	MethodRecoveryCode = metrics.FactorRecoveryCode
	MethodPasskey      = metrics.FactorPasskey
)

// Error messages of the second-factor routes (handlers/openapi.yaml).
const (
	MsgCodeMissing          = "code missing"
	MsgCodeFormat           = "code must be 6 digits"
	MsgWrongCode            = "wrong code"
	MsgCodeUsed             = "code already used"
	MsgRecoveryCodeFormat   = "recovery code must be 10 letters and digits, as xxxxx-xxxxx"
	MsgWrongRecoveryCode    = "wrong recovery code"
	MsgTOTPEnrolled         = "totp already enrolled"
	MsgTOTPNotStarted       = "no totp enrolment started"
	MsgTOTPNotEnrolled      = "totp not enrolled"
	MsgNoSecondFactor       = "no second factor enrolled"
	MsgSecondFactorEnrolled = "second factor enrolled: Basic authentication is not allowed for this account"
)

// SecondFactors enrols, checks and removes the second factors of
// accounts: TOTP and recovery codes (Passkeys checks passkeys through the
// same check, and they complete a sign-in the same way). Every code check
// goes through the login throttling, so a guessed code costs as much as a
// guessed password. No secret or code is ever logged.
type SecondFactors struct {
	Users store.UserStore
	Login *Login
	// Sealer seals TOTP secrets; nil where there are no sessions
	// (basic_auth), and so no enrolment.
	Sealer   *Sealer
	Sessions SessionEnder // nil in basic_auth
	// Tokens revokes a user's access tokens when an admin removes the
	// user's factors; nil revokes none.
	Tokens TokenRevoker
	Now    func() time.Time
	Log    *slog.Logger
	// Observe, when set, is told each check's method and result (one of
	// the metrics.Factor* results).
	Observe func(method, result string)
}

// Methods lists how an account with factors f can complete a sign-in,
// strongest first; empty when it has no second factor.
func Methods(f store.Factors) []string {
	if !f.Enrolled() {
		return nil
	}
	var out []string
	if len(f.Passkeys) > 0 {
		out = append(out, MethodPasskey) // phishing-resistant: the strongest
	}
	if f.TOTP != nil && f.TOTP.Confirmed {
		out = append(out, MethodTOTP)
	}
	for _, c := range f.RecoveryCodes {
		if c.UsedAt == nil {
			out = append(out, MethodRecoveryCode)
			break
		}
	}
	return out
}

// TOTP states, as FactorStatus reports them.
const (
	TOTPNone        = "none"
	TOTPUnconfirmed = "unconfirmed" // started, awaiting its first code
	TOTPEnabled     = "enabled"
)

// FactorStatus says what second factors an account has, never their
// secrets.
type FactorStatus struct {
	Methods           []string // as Methods
	RecoveryCodesLeft int
	TOTP              string // TOTPNone, TOTPUnconfirmed or TOTPEnabled
}

// StatusOf is the FactorStatus of factors f.
func StatusOf(f store.Factors) FactorStatus {
	st := FactorStatus{Methods: Methods(f), RecoveryCodesLeft: unusedRecoveryCodes(f), TOTP: TOTPNone}
	if st.Methods == nil {
		st.Methods = []string{}
	}
	switch {
	case f.TOTP != nil && f.TOTP.Confirmed:
		st.TOTP = TOTPEnabled
	case f.TOTP != nil:
		st.TOTP = TOTPUnconfirmed
	}
	return st
}

// TOTPEnrolment is what a person needs to add the account to an
// authenticator app; it is shown once, when enrolment starts.
type TOTPEnrolment struct {
	Secret string // base32, for typing in
	URI    string // otpauth://, for a QR code
}

// StartTOTP gives u a new, unconfirmed TOTP secret, replacing any
// unconfirmed one; nothing is checked against it until ConfirmTOTP.
// ECONFLICT when u already has a confirmed one.
func (f *SecondFactors) StartTOTP(ctx context.Context, u store.User) (TOTPEnrolment, error) {
	if f.Sealer == nil {
		return TOTPEnrolment{}, store.Errorf(store.ENOTFOUND, store.MsgNotFound)
	}
	secret := newTOTPSecret()
	sealed := f.Sealer.Seal(secret, u.ID)
	now := f.now()
	updated, err := f.Users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		if cur.Factors.TOTP != nil && cur.Factors.TOTP.Confirmed {
			return store.Errorf(store.ECONFLICT, MsgTOTPEnrolled)
		}
		cur.Factors.TOTP = &store.TOTP{Secret: sealed, CreatedAt: now}
		return nil
	})
	if err != nil {
		return TOTPEnrolment{}, err
	}
	f.audit(ctx, slog.LevelInfo, EventTOTPEnrolmentStarted, slog.String("user_id", u.ID))
	return TOTPEnrolment{Secret: secretEncoding.EncodeToString(secret), URI: TOTPURI(secret, updated.Email)}, nil
}

// ConfirmTOTP activates u's unconfirmed TOTP secret with its current code
// and returns new recovery codes (replacing any), to be shown once. A
// wrong code is EINVALID "wrong code" and counts as a failed login of the
// account.
func (f *SecondFactors) ConfirmTOTP(ctx context.Context, u store.User, code, addr string) ([]string, error) {
	if err := checkCodeFormat(code); err != nil {
		return nil, err
	}
	pending := u.Factors.TOTP
	switch {
	case pending == nil || f.Sealer == nil:
		return nil, store.Errorf(store.ECONFLICT, MsgTOTPNotStarted)
	case pending.Confirmed:
		return nil, store.Errorf(store.ECONFLICT, MsgTOTPEnrolled)
	}
	codes, hashes := newRecoveryCodes()
	err := f.check(ctx, u, MethodTOTP, addr, func() error {
		secret, err := f.Sealer.Open(pending.Secret, u.ID)
		if err != nil {
			return err
		}
		_, err = f.Users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
			t := cur.Factors.TOTP
			if t == nil || t.Confirmed || !bytes.Equal(t.Secret, pending.Secret) {
				return store.Errorf(store.ECONFLICT, MsgTOTPNotStarted) // replaced or confirmed meanwhile
			}
			step, ok := matchTOTP(secret, code, f.now(), t.LastStep)
			if !ok {
				return store.Errorf(store.EUNAUTHORIZED, MsgWrongCode)
			}
			t.Confirmed, t.LastStep = true, step
			cur.Factors.RecoveryCodes = recoveryCodes(hashes)
			return nil
		})
		return err
	})
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		// The caller is signed in: a wrong code is bad input here.
		return nil, store.Errorf(store.EINVALID, MsgWrongCode)
	}
	if err != nil {
		return nil, err
	}
	f.audit(ctx, slog.LevelInfo, EventTOTPEnrolled, slog.String("user_id", u.ID))
	f.audit(ctx, slog.LevelInfo, EventRecoveryCodesCreated, slog.String("user_id", u.ID),
		slog.Int("count", len(codes)))
	return codes, nil
}

// Proof is a second factor presented by a client: a method and its value.
type Proof struct {
	Method string // MethodTOTP or MethodRecoveryCode
	Value  string
}

// Verify checks a second factor of u, once: a TOTP code of a step later
// than the last accepted one (within one step of clock skew), or an
// unused recovery code, which is then used up. Both are recorded in the
// same atomic update that checks them, so of parallel requests with one
// code exactly one succeeds. A wrong or used code is EUNAUTHORIZED and
// counts as a failed login of the account; a malformed one is EINVALID.
func (f *SecondFactors) Verify(ctx context.Context, u store.User, p Proof, addr string) error {
	var verify func(cur *store.User) error
	switch p.Method {
	case MethodTOTP:
		if err := checkCodeFormat(p.Value); err != nil {
			return err
		}
		if u.Factors.TOTP == nil || !u.Factors.TOTP.Confirmed || f.Sealer == nil {
			return store.Errorf(store.EINVALID, MsgTOTPNotEnrolled)
		}
		verify = func(cur *store.User) error { return f.useTOTP(cur, p.Value) }
	case MethodRecoveryCode:
		normal, ok := normalRecoveryCode(p.Value)
		if !ok {
			return store.Errorf(store.EINVALID, MsgRecoveryCodeFormat)
		}
		verify = func(cur *store.User) error { return f.useRecoveryCode(cur, normal) }
	default:
		return store.Errorf(store.EINVALID, MsgCodeMissing)
	}
	remaining := 0
	err := f.check(ctx, u, p.Method, addr, func() error {
		updated, err := f.Users.UpdateUser(ctx, u.ID, verify)
		if store.ErrorCode(err) == store.ENOTFOUND {
			return store.Errorf(store.EFORBIDDEN, "Forbidden") // deleted meanwhile
		}
		remaining = unusedRecoveryCodes(updated.Factors)
		return err
	})
	if err != nil {
		return err
	}
	f.audit(ctx, slog.LevelInfo, EventSecondFactorSucceeded, slog.String("user_id", u.ID),
		slog.String("method", p.Method))
	if p.Method == MethodRecoveryCode {
		f.audit(ctx, slog.LevelWarn, EventRecoveryCodeUsed, slog.String("user_id", u.ID),
			slog.Int("remaining", remaining))
	}
	return nil
}

// useTOTP accepts code for cur's confirmed TOTP secret and records its
// step: a compare-and-set inside the store's update.
func (f *SecondFactors) useTOTP(cur *store.User, code string) error {
	t := cur.Factors.TOTP
	if t == nil || !t.Confirmed {
		return store.Errorf(store.EINVALID, MsgTOTPNotEnrolled) // removed meanwhile
	}
	secret, err := f.Sealer.Open(t.Secret, cur.ID)
	if err != nil {
		return err
	}
	now := f.now()
	step, ok := matchTOTP(secret, code, now, t.LastStep)
	if !ok {
		if usedTOTP(secret, code, now, t.LastStep) {
			return store.Errorf(store.EUNAUTHORIZED, MsgCodeUsed)
		}
		return store.Errorf(store.EUNAUTHORIZED, MsgWrongCode)
	}
	t.LastStep = step
	return nil
}

// useRecoveryCode marks cur's unused recovery code whose normal form is
// normal as used.
func (f *SecondFactors) useRecoveryCode(cur *store.User, normal string) error {
	want := []byte(hashRecoveryCode(normal))
	for i := range cur.Factors.RecoveryCodes {
		c := &cur.Factors.RecoveryCodes[i]
		if subtle.ConstantTimeCompare([]byte(c.Hash), want) == 1 {
			if c.UsedAt != nil {
				break
			}
			now := f.now()
			c.UsedAt = &now
			return nil
		}
	}
	return store.Errorf(store.EUNAUTHORIZED, MsgWrongRecoveryCode)
}

// check runs one code check of u through the login throttling, and
// reports it to the metrics and, when it failed, the audit log.
func (f *SecondFactors) check(ctx context.Context, u store.User, method, addr string, run func() error) error {
	err := f.Login.CheckFactor(ctx, u.Email, addr, run)
	result, ok := checkResult(err)
	if !ok {
		return err // an outage: neither
	}
	if f.Observe != nil {
		f.Observe(method, result)
	}
	if result != metrics.FactorSuccess {
		f.audit(ctx, slog.LevelWarn, EventSecondFactorFailed, slog.String("user_id", u.ID),
			slog.String("method", method), slog.String("reason", result+": "+failureReason(err)))
	}
	return err
}

// checkResult is the metrics.Factor* result of a check that ended in err;
// ok is false for an outage, which is no result.
func checkResult(err error) (result string, ok bool) {
	switch _, throttled := RetryAfter(err); {
	case throttled:
		return metrics.FactorThrottled, true
	case store.ErrorCode(err) == store.EUNAUTHORIZED, store.ErrorCode(err) == store.EINVALID:
		return metrics.FactorFailure, true
	case err != nil:
		return "", false
	}
	return metrics.FactorSuccess, true
}

// RemoveTOTP removes u's TOTP secret, confirmed or not, and with it the
// recovery codes when no other factor is left. ENOTFOUND "totp not
// enrolled" when there is none.
func (f *SecondFactors) RemoveTOTP(ctx context.Context, u store.User) error {
	_, err := f.Users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		if cur.Factors.TOTP == nil {
			return store.Errorf(store.ENOTFOUND, MsgTOTPNotEnrolled)
		}
		cur.Factors.TOTP = nil
		if !cur.Factors.Enrolled() {
			cur.Factors.RecoveryCodes = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.audit(ctx, slog.LevelInfo, EventTOTPRemoved, slog.String("user_id", u.ID))
	return nil
}

// RegenerateRecoveryCodes replaces u's recovery codes by new ones, to be
// shown once. ECONFLICT when u has no second factor to recover.
func (f *SecondFactors) RegenerateRecoveryCodes(ctx context.Context, u store.User) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	_, err := f.Users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		if !cur.Factors.Enrolled() {
			return store.Errorf(store.ECONFLICT, MsgNoSecondFactor)
		}
		cur.Factors.RecoveryCodes = recoveryCodes(hashes)
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.audit(ctx, slog.LevelInfo, EventRecoveryCodesCreated, slog.String("user_id", u.ID),
		slog.Int("count", len(codes)))
	return codes, nil
}

// RemoveAll removes every second factor of the user id (an admin's help
// for a lost phone) and ends all of that user's sessions, since any of
// them may be the one that lost it, and revokes all of the user's access
// tokens, which whoever holds it may have created. ENOTFOUND for an
// unknown user.
func (f *SecondFactors) RemoveAll(ctx context.Context, id string) error {
	var had []string
	_, err := f.Users.UpdateUser(ctx, id, func(cur *store.User) error {
		had = factorNames(cur.Factors)
		cur.Factors = store.Factors{}
		return nil
	})
	if err != nil {
		return err
	}
	ended := 0
	if f.Sessions != nil {
		if ended, err = f.Sessions.EndUserSessions(ctx, id); err != nil {
			return err
		}
	}
	revoked := 0
	if f.Tokens != nil {
		if revoked, err = f.Tokens.RevokeUserTokens(ctx, id, "second_factors_removed"); err != nil {
			return err
		}
	}
	f.audit(ctx, slog.LevelWarn, EventSecondFactorsRemoved, slog.String("user_id", id),
		slog.Any("factors", had), slog.Int("sessions_ended", ended), slog.Int("tokens_revoked", revoked))
	return nil
}

// factorNames names the factors f holds, for the audit log.
func factorNames(f store.Factors) []string {
	out := []string{}
	if f.TOTP != nil {
		out = append(out, MethodTOTP)
	}
	if len(f.RecoveryCodes) > 0 {
		out = append(out, MethodRecoveryCode)
	}
	if len(f.Passkeys) > 0 {
		out = append(out, MethodPasskey)
	}
	return out
}

func recoveryCodes(hashes []string) []store.RecoveryCode {
	out := make([]store.RecoveryCode, len(hashes))
	for i, h := range hashes {
		out[i] = store.RecoveryCode{Hash: h}
	}
	return out
}

func unusedRecoveryCodes(f store.Factors) int {
	n := 0
	for _, c := range f.RecoveryCodes {
		if c.UsedAt == nil {
			n++
		}
	}
	return n
}

// checkCodeFormat refuses a TOTP code that is not six digits before it
// costs an attempt.
func checkCodeFormat(code string) error {
	if code == "" {
		return store.Errorf(store.EINVALID, MsgCodeMissing)
	}
	if !validTOTPFormat(code) {
		return store.Errorf(store.EINVALID, MsgCodeFormat)
	}
	return nil
}

func (f *SecondFactors) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

func (f *SecondFactors) audit(ctx context.Context, level slog.Level, event string, attrs ...slog.Attr) {
	log := f.Log
	if log == nil {
		log = slog.Default()
	}
	Audit(ctx, log, level, event, attrs...)
}
