package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"simpleapi/store"
)

// Passkeys, as the API and the account page use them: discoverable
// WebAuthn credentials that verify their user (a PIN, a fingerprint), at
// most MaxPasskeys per account, each with a name its owner chose.
const (
	MaxPasskeys       = 10
	MaxPasskeyNameLen = 64 // characters
	// CeremonyTTL is how long a begun ceremony can be finished: the
	// browser's timeout too.
	CeremonyTTL = 5 * time.Minute
	// RPName is the name authenticators show beside a passkey.
	RPName = TOTPIssuer
)

// Error messages of the passkey routes (handlers/openapi.yaml).
const (
	MsgPasskeyNameMissing = "name missing"
	MsgPasskeyNameTooLong = "name too long"
	MsgPasskeyNameInvalid = "name invalid"
	MsgCredentialMissing  = "credential missing"
	MsgCredentialInvalid  = "credential invalid"
	MsgNoCeremony         = "no passkey ceremony started, or it expired"
	MsgPasskeyRejected    = "passkey not accepted"
	MsgPasskeyNotFound    = "passkey not found"
	MsgPasskeyRegistered  = "passkey already registered"
	MsgTooManyPasskeys    = "too many passkeys"
	MsgNoPasskey          = "no passkey registered"
	MsgReauthWithPasskey  = "reauthenticate with a passkey"
)

// ceremony is what a begun ceremony is for. It prefixes the key of the
// ceremony's state, so a challenge begun for one purpose finishes no
// other.
type ceremony string

const (
	ceremonyRegister     ceremony = "passkey-register"
	ceremonySecondFactor ceremony = "passkey-second-factor"
	ceremonyReauth       ceremony = "passkey-reauth"
	ceremonySignIn       ceremony = "passkey-sign-in"
)

// maxChallengeLen bounds the challenge a client claims to answer before
// it is looked up: ours are 32 bytes, 43 in base64url.
const maxChallengeLen = 128

// ChallengeStore keeps the state of begun ceremonies, once each (the
// session store's one-time challenges).
type ChallengeStore interface {
	PutChallenge(ctx context.Context, key string, data []byte, ttl time.Duration) error
	TakeChallenge(ctx context.Context, key string) ([]byte, error)
}

// Passkeys registers passkeys from a signed-in session and checks them:
// as the second factor of a sign-in a password began, to re-authenticate
// a session, or alone, for a sign-in without a password (the passkey says
// whose it is: its user handle is the user id).
//
// Every ceremony's state is kept in the session store under its
// challenge, for CeremonyTTL, and taken once: a ceremony begun on one
// instance finishes on any other, and a response is accepted at most
// once. Checks go through the login throttling; a passkey's signature
// counter must increase with each use (when its authenticator keeps one),
// or the use is refused and audited.
type Passkeys struct {
	rp         *webauthn.WebAuthn
	users      store.UserStore
	challenges ChallengeStore
	factors    *SecondFactors // throttling, metrics and audit of a check, as for TOTP
	login      *Login
	now        func() time.Time
	log        *slog.Logger
}

// PasskeyConfig configures Passkeys.
type PasskeyConfig struct {
	// RPID is the relying-party id (WEBAUTHN_RP_ID): the domain every
	// passkey is bound to. Origins are the page's origins
	// (WEBAUTHN_ORIGINS), each on RPID or a subdomain of it.
	RPID       string
	Origins    []string
	Users      store.UserStore
	Challenges ChallengeStore
	Factors    *SecondFactors
	Login      *Login
	Now        func() time.Time
	Log        *slog.Logger
}

// NewPasskeys returns the passkey service of cfg; an RP id or origins
// that WebAuthn cannot use are an error.
func NewPasskeys(cfg PasskeyConfig) (*Passkeys, error) {
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: RPName,
		RPOrigins:     cfg.Origins,
		// The store's TTL ends a ceremony; the browser is told the same.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	p := &Passkeys{rp: rp, users: cfg.Users, challenges: cfg.Challenges, factors: cfg.Factors, login: cfg.Login,
		now: cfg.Now, log: cfg.Log}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// PasskeyID is how the API names a passkey: its credential id in
// base64url without padding, as browsers write it.
func PasskeyID(k store.Passkey) string { return base64.RawURLEncoding.EncodeToString(k.ID) }

// BeginRegistration starts the registration of a passkey for u from the
// session sessionID, and returns the options for the browser's
// navigator.credentials.create(). The passkey must be discoverable
// (resident) and verify its user; u's passkeys are excluded, so an
// authenticator does not register one twice.
func (p *Passkeys) BeginRegistration(ctx context.Context, u store.User, sessionID string) (*protocol.CredentialCreation, error) {
	if len(u.Factors.Passkeys) >= MaxPasskeys {
		return nil, store.Errorf(store.ECONFLICT, MsgTooManyPasskeys)
	}
	required := true
	creation, data, err := p.rp.BeginRegistration(rpUser{u},
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &required,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(webauthn.Credentials(rpUser{u}.WebAuthnCredentials()).CredentialDescriptors()),
		// Which authenticator model it is does not matter here: no
		// attestation, so no identifying certificate is asked for.
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, fmt.Errorf("beginning a passkey registration: %w", err)
	}
	if err := p.put(ctx, ceremonyRegister, sessionID, *data); err != nil {
		return nil, err
	}
	return creation, nil
}

// FinishRegistration verifies the browser's answer (credential, the JSON
// of a PublicKeyCredential) to a registration that the session sessionID
// began for u, and stores the passkey under name. A name is 1 to
// MaxPasskeyNameLen characters without control characters, trimmed.
func (p *Passkeys) FinishRegistration(ctx context.Context, u store.User, sessionID, name string,
	credential json.RawMessage) (store.Passkey, error) {
	name, err := checkPasskeyName(name)
	if err != nil {
		return store.Passkey{}, err
	}
	if len(credential) == 0 {
		return store.Passkey{}, store.Errorf(store.EINVALID, MsgCredentialMissing)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return store.Passkey{}, store.Errorf(store.EINVALID, MsgCredentialInvalid)
	}
	data, err := p.take(ctx, ceremonyRegister, parsed.Response.CollectedClientData.Challenge, sessionID)
	if err != nil {
		return store.Passkey{}, err
	}
	cred, err := p.rp.CreateCredential(rpUser{u}, data, parsed)
	if err != nil {
		p.audit(ctx, slog.LevelWarn, EventPasskeyRegistrationFailed, slog.String("user_id", u.ID),
			slog.String("reason", webauthnReason(err)))
		// The caller is signed in: an answer that does not verify is bad
		// input, not failed credentials.
		return store.Passkey{}, store.Errorf(store.EINVALID, MsgPasskeyRejected)
	}
	key := store.Passkey{
		ID:              cred.ID,
		Name:            name,
		PublicKey:       cred.PublicKey,
		AttestationType: cred.AttestationType,
		AAGUID:          cred.Authenticator.AAGUID,
		SignCount:       cred.Authenticator.SignCount,
		BackupEligible:  cred.Flags.BackupEligible,
		BackupState:     cred.Flags.BackupState,
		CreatedAt:       p.now().UTC().Truncate(time.Second),
	}
	for _, t := range cred.Transport {
		key.Transports = append(key.Transports, string(t))
	}
	_, err = p.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		if len(cur.Factors.Passkeys) >= MaxPasskeys {
			return store.Errorf(store.ECONFLICT, MsgTooManyPasskeys)
		}
		if findPasskey(cur, key.ID) != nil {
			return store.Errorf(store.ECONFLICT, MsgPasskeyRegistered)
		}
		cur.Factors.Passkeys = append(cur.Factors.Passkeys, key)
		return nil
	})
	if store.ErrorCode(err) == store.ENOTFOUND {
		return store.Passkey{}, store.Errorf(store.EFORBIDDEN, "Forbidden") // deleted meanwhile
	}
	if err != nil {
		return store.Passkey{}, err
	}
	p.audit(ctx, slog.LevelInfo, EventPasskeyRegistered, slog.String("user_id", u.ID),
		slog.String("passkey_id", PasskeyID(key)), slog.String("name", key.Name))
	return key, nil
}

// Remove removes u's passkey id (PasskeyID), and with it the recovery
// codes when no other factor is left. ENOTFOUND "passkey not found" when
// u has no such passkey.
func (p *Passkeys) Remove(ctx context.Context, u store.User, id string) error {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 {
		return store.Errorf(store.ENOTFOUND, MsgPasskeyNotFound)
	}
	_, err = p.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		keys := cur.Factors.Passkeys
		for i := range keys {
			if string(keys[i].ID) == string(raw) {
				cur.Factors.Passkeys = append(keys[:i:i], keys[i+1:]...)
				if !cur.Factors.Enrolled() {
					cur.Factors.RecoveryCodes = nil
				}
				return nil
			}
		}
		return store.Errorf(store.ENOTFOUND, MsgPasskeyNotFound)
	})
	if err != nil {
		return err
	}
	p.audit(ctx, slog.LevelInfo, EventPasskeyRemoved, slog.String("user_id", u.ID), slog.String("passkey_id", id))
	return nil
}

// BeginSecondFactor starts the check of one of u's passkeys as the second
// factor of the pending session pendingID, and returns the options for
// the browser's navigator.credentials.get().
func (p *Passkeys) BeginSecondFactor(ctx context.Context, u store.User, pendingID string) (*protocol.CredentialAssertion, error) {
	return p.beginAssertion(ctx, ceremonySecondFactor, u, pendingID)
}

// FinishSecondFactor verifies the browser's answer to a check that the
// pending session pendingID began for u, as a second-factor attempt of a
// client at addr (throttled; a passkey that does not verify is a failed
// login of the account).
func (p *Passkeys) FinishSecondFactor(ctx context.Context, u store.User, pendingID string, credential json.RawMessage,
	addr string) error {
	if err := p.finishAssertion(ctx, ceremonySecondFactor, u, pendingID, credential, addr); err != nil {
		return err
	}
	p.audit(ctx, slog.LevelInfo, EventSecondFactorSucceeded, slog.String("user_id", u.ID),
		slog.String("method", MethodPasskey))
	return nil
}

// BeginReauth starts the check of one of u's passkeys that
// re-authenticates the session sessionID.
func (p *Passkeys) BeginReauth(ctx context.Context, u store.User, sessionID string) (*protocol.CredentialAssertion, error) {
	return p.beginAssertion(ctx, ceremonyReauth, u, sessionID)
}

// FinishReauth verifies the browser's answer to a re-authentication that
// the session sessionID began for u, throttled like FinishSecondFactor.
func (p *Passkeys) FinishReauth(ctx context.Context, u store.User, sessionID string, credential json.RawMessage,
	addr string) error {
	return p.finishAssertion(ctx, ceremonyReauth, u, sessionID, credential, addr)
}

// beginAssertion starts a check of u's passkeys, bound to sessionID.
func (p *Passkeys) beginAssertion(ctx context.Context, kind ceremony, u store.User,
	sessionID string) (*protocol.CredentialAssertion, error) {
	if len(u.Factors.Passkeys) == 0 {
		return nil, store.Errorf(store.EINVALID, MsgNoPasskey)
	}
	assertion, data, err := p.rp.BeginLogin(rpUser{u}, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("beginning a passkey check: %w", err)
	}
	// The browser is told which passkeys will do; the state need not
	// remember them: at the finish the passkey must be one of u's then,
	// which is the same check against the account as it is at that time,
	// and keeps the state small whatever the size of credential ids.
	data.AllowedCredentialIDs = nil
	if err := p.put(ctx, kind, sessionID, *data); err != nil {
		return nil, err
	}
	return assertion, nil
}

// finishAssertion verifies an answer to a check of u's passkeys bound to
// sessionID, as a second-factor attempt.
func (p *Passkeys) finishAssertion(ctx context.Context, kind ceremony, u store.User, sessionID string,
	credential json.RawMessage, addr string) error {
	parsed, err := parseAssertion(credential)
	if err != nil {
		return err
	}
	return p.factors.check(ctx, u, MethodPasskey, addr, func() error {
		data, err := p.take(ctx, kind, parsed.Response.CollectedClientData.Challenge, sessionID)
		if err != nil {
			return err
		}
		cred, err := p.rp.ValidateLogin(rpUser{u}, data, parsed)
		if err != nil {
			return &passkeyRejected{reason: webauthnReason(err)}
		}
		return p.recordUse(ctx, u, cred, parsed.Response.AuthenticatorData.Counter)
	})
}

// BeginSignIn starts a sign-in by passkey alone for a client at addr: the
// browser offers every passkey it holds for the RP id, and the one chosen
// says whose it is. Anyone may begin one, so each costs the client an
// attempt of its login budget (Login.BeginPasskeySignIn).
func (p *Passkeys) BeginSignIn(ctx context.Context, addr string) (*protocol.CredentialAssertion, error) {
	if err := p.login.BeginPasskeySignIn(ctx, addr); err != nil {
		return nil, err
	}
	assertion, data, err := p.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("beginning a passkey sign-in: %w", err)
	}
	if err := p.put(ctx, ceremonySignIn, "", *data); err != nil {
		return nil, err
	}
	return assertion, nil
}

// FinishSignIn verifies the browser's answer to a sign-in by passkey
// alone from a client at addr, and returns the user it signs in.
// Failures are throttled by the client's address (Login.CheckPasskeySignIn)
// and audited as login_failed; a passkey that does not verify is
// EUNAUTHORIZED "passkey not accepted", whatever the reason (the audit
// log has it).
func (p *Passkeys) FinishSignIn(ctx context.Context, credential json.RawMessage, addr string) (store.User, error) {
	parsed, err := parseAssertion(credential)
	if err != nil {
		return store.User{}, err
	}
	var (
		user      store.User
		lookupErr error // the store's, kept apart from the library's wrapping
	)
	err = p.login.CheckPasskeySignIn(ctx, addr, func() error {
		data, err := p.take(ctx, ceremonySignIn, parsed.Response.CollectedClientData.Challenge, "")
		if err != nil {
			return err
		}
		owner := func(_, userHandle []byte) (webauthn.User, error) {
			if !utf8.Valid(userHandle) {
				return nil, errors.New("the user handle is not a user id")
			}
			u, err := p.users.UserByID(ctx, string(userHandle))
			if err != nil {
				lookupErr = err
				return nil, err
			}
			user = u
			return rpUser{u}, nil
		}
		_, cred, err := p.rp.ValidatePasskeyLogin(owner, data, parsed)
		if err != nil {
			if lookupErr != nil && store.ErrorCode(lookupErr) != store.ENOTFOUND {
				return lookupErr // an outage, not a failure
			}
			return &passkeyRejected{reason: webauthnReason(err)}
		}
		return p.recordUse(ctx, user, cred, parsed.Response.AuthenticatorData.Counter)
	})
	result, ok := checkResult(err)
	if !ok {
		return store.User{}, err // an outage: neither
	}
	if p.factors.Observe != nil {
		p.factors.Observe(MethodPasskey, result)
	}
	if err != nil {
		attrs := []slog.Attr{slog.String("method", MethodPasskey), slog.String("reason", result+": "+failureReason(err))}
		if user.ID != "" {
			attrs = append(attrs, slog.String("user_id", user.ID))
		}
		p.audit(ctx, slog.LevelWarn, EventLoginFailed, attrs...)
		return store.User{}, err
	}
	return user, nil
}

// recordUse records that u's passkey cred (as the library verified it)
// was used just now with the signature counter got: the counter, backup
// state and time of use, in one update that also checks, against the
// counter as stored then, that the counter increased. A counter that did
// not (when the authenticator keeps one) means two copies of the passkey
// may exist: the use is refused and audited.
func (p *Passkeys) recordUse(ctx context.Context, u store.User, cred *webauthn.Credential, got uint32) error {
	now := p.now().UTC().Truncate(time.Second)
	var regressed *store.Passkey
	_, err := p.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		k := findPasskey(cur, cred.ID)
		if k == nil {
			return &passkeyRejected{reason: "the passkey was removed meanwhile"}
		}
		if !counterIncreased(k.SignCount, got) {
			copied := *k
			regressed = &copied
			return &passkeyRejected{reason: "sign count did not increase"}
		}
		k.SignCount = got
		k.BackupState = cred.Flags.BackupState
		k.LastUsedAt = &now
		return nil
	})
	if regressed != nil {
		p.audit(ctx, slog.LevelWarn, EventPasskeySignCountRegressed, slog.String("user_id", u.ID),
			slog.String("passkey_id", PasskeyID(*regressed)), slog.Uint64("stored_sign_count", uint64(regressed.SignCount)),
			slog.Uint64("sign_count", uint64(got)))
	}
	if store.ErrorCode(err) == store.ENOTFOUND {
		return &passkeyRejected{reason: "the account was deleted meanwhile"}
	}
	return err
}

// counterIncreased reports whether a signature counter got is later than
// stored: it must grow with every use, unless the authenticator keeps no
// counter (both are zero).
func counterIncreased(stored, got uint32) bool {
	return got > stored || got == 0 && stored == 0
}

// ceremonyState is a begun ceremony as the challenge store keeps it.
type ceremonyState struct {
	// SessionID is the session that began it ("" for a sign-in), which
	// alone may finish it.
	SessionID string               `json:"session_id,omitempty"`
	Data      webauthn.SessionData `json:"data"`
}

// put keeps the state of a begun ceremony under its challenge.
func (p *Passkeys) put(ctx context.Context, kind ceremony, sessionID string, data webauthn.SessionData) error {
	b, err := json.Marshal(ceremonyState{SessionID: sessionID, Data: data})
	if err != nil {
		return err
	}
	return p.challenges.PutChallenge(ctx, string(kind)+":"+data.Challenge, b, CeremonyTTL)
}

// take returns, once, the state of the ceremony of kind whose challenge
// the client answered, when the session sessionID began it. A ceremony
// that is unknown, expired, taken, or another session's is EINVALID.
func (p *Passkeys) take(ctx context.Context, kind ceremony, challenge, sessionID string) (webauthn.SessionData, error) {
	none := store.Errorf(store.EINVALID, MsgNoCeremony)
	if challenge == "" || len(challenge) > maxChallengeLen {
		return webauthn.SessionData{}, none
	}
	b, err := p.challenges.TakeChallenge(ctx, string(kind)+":"+challenge)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return webauthn.SessionData{}, none
	}
	if err != nil {
		return webauthn.SessionData{}, err
	}
	var st ceremonyState
	if err := json.Unmarshal(b, &st); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("reading a passkey ceremony: %w", err)
	}
	if st.SessionID != sessionID {
		return webauthn.SessionData{}, none
	}
	return st.Data, nil
}

// parseAssertion reads the JSON of a PublicKeyCredential that answers a
// check; a malformed one costs no attempt.
func parseAssertion(credential json.RawMessage) (*protocol.ParsedCredentialAssertionData, error) {
	if len(credential) == 0 {
		return nil, store.Errorf(store.EINVALID, MsgCredentialMissing)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, store.Errorf(store.EINVALID, MsgCredentialInvalid)
	}
	return parsed, nil
}

// checkPasskeyName trims name and checks it.
func checkPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", store.Errorf(store.EINVALID, MsgPasskeyNameMissing)
	case utf8.RuneCountInString(name) > MaxPasskeyNameLen:
		return "", store.Errorf(store.EINVALID, MsgPasskeyNameTooLong)
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", store.Errorf(store.EINVALID, MsgPasskeyNameInvalid)
	}
	return name, nil
}

// findPasskey returns u's passkey with credential id id, or nil.
func findPasskey(u *store.User, id []byte) *store.Passkey {
	for i := range u.Factors.Passkeys {
		if string(u.Factors.Passkeys[i].ID) == string(id) {
			return &u.Factors.Passkeys[i]
		}
	}
	return nil
}

// passkeyRejected is a passkey answer that did not verify: to the client
// EUNAUTHORIZED "passkey not accepted", never why; to the audit log, why.
type passkeyRejected struct{ reason string }

func (e *passkeyRejected) Error() string { return "passkey not accepted: " + e.reason }

// Unwrap gives the error its application code and message.
func (e *passkeyRejected) Unwrap() error {
	return store.Errorf(store.EUNAUTHORIZED, MsgPasskeyRejected)
}

// failureReason is the audit log's reason of a failed check: the
// client's message, and for a passkey why it was not accepted.
func failureReason(err error) string {
	var rejected *passkeyRejected
	if errors.As(err, &rejected) {
		return MsgPasskeyRejected + " (" + rejected.reason + ")"
	}
	return store.ErrorMessage(err)
}

// webauthnReason is why go-webauthn refused an answer, for the log.
func webauthnReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return pe.Details + ": " + pe.DevInfo
	}
	return err.Error()
}

// rpUser is a user as go-webauthn sees one. The user handle is the user
// id, so that a discoverable passkey names its account.
type rpUser struct{ u store.User }

func (r rpUser) WebAuthnID() []byte { return []byte(r.u.ID) }

func (r rpUser) WebAuthnName() string {
	if r.u.Email == "" {
		return r.u.ID // a legacy record without an email
	}
	return r.u.Email
}

// WebAuthnDisplayName is the person's name where the account has one.
func (r rpUser) WebAuthnDisplayName() string {
	var parts []string
	for _, n := range []*string{r.u.FirstName, r.u.LastName} {
		if n != nil && strings.TrimSpace(*n) != "" {
			parts = append(parts, strings.TrimSpace(*n))
		}
	}
	if len(parts) == 0 {
		return r.WebAuthnName()
	}
	return strings.Join(parts, " ")
}

func (r rpUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(r.u.Factors.Passkeys))
	for i, k := range r.u.Factors.Passkeys {
		out[i] = credentialOf(k)
	}
	return out
}

// credentialOf is a stored passkey as go-webauthn checks it. Every
// passkey verified its user when it was registered.
func credentialOf(k store.Passkey) webauthn.Credential {
	flags := protocol.FlagUserPresent | protocol.FlagUserVerified
	if k.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if k.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(k.Transports))
	for i, t := range k.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:              k.ID,
		PublicKey:       k.PublicKey,
		AttestationType: k.AttestationType,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
	}
}

func (p *Passkeys) audit(ctx context.Context, level slog.Level, event string, attrs ...slog.Attr) {
	Audit(ctx, p.log, level, event, attrs...)
}
