package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.org/x/sync/singleflight"

	"simpleapi/metrics"
	"simpleapi/store"
)

// Login is the one path by which a password is checked: Basic
// authentication, the login route and the password change all go through
// Check, which throttles, verifies, upgrades a weak hash, audits a failure
// and reports the outcome. Second-factor codes are throttled alike, by
// CheckFactor. Nothing else calls the limiter.
type Login struct {
	accounts   *Accounts
	limiter    store.LoginLimiter
	remembered *CredentialCache
	observe    func(outcome string)
	ipv6Bits   int // leading bits of an IPv6 address that name one client

	// Concurrent checks of identical credentials share one attempt: one
	// argon2id run and one unit of the address budget. Keys are an HMAC
	// of account and password under flightKey, which exists only in this
	// process's memory, so no password is kept as a map key.
	flights   singleflight.Group
	flightKey [32]byte
}

// LoginOptions are the settings of the login path.
type LoginOptions struct {
	// IPv6PrefixBits is how many leading bits of an IPv6 client address
	// name one client for the per-address budget (LOGIN_IPV6_PREFIX),
	// 1..128 (128: each address is a client); 0 means
	// DefaultIPv6PrefixBits.
	IPv6PrefixBits int
}

// DefaultIPv6PrefixBits is the IPv6 prefix one client is taken to hold: a
// /64 is the smallest network an ISP gives a customer, and every address
// in it is the customer's to use.
const DefaultIPv6PrefixBits = 64

// NewLogin returns the login path over accounts and limiter.
// remembered, when not nil, answers credentials that verified recently
// without a new argon2id run (basic_auth mode, where every request
// carries the password). observe, when not nil, is told the outcome of
// every attempt, one of the metrics.Login* values.
func NewLogin(accounts *Accounts, limiter store.LoginLimiter, remembered *CredentialCache, observe func(outcome string),
	opts LoginOptions) *Login {
	bits := opts.IPv6PrefixBits
	if bits == 0 {
		bits = DefaultIPv6PrefixBits
	}
	l := &Login{accounts: accounts, limiter: limiter, remembered: remembered, observe: observe, ipv6Bits: bits}
	_, _ = rand.Read(l.flightKey[:])
	return l
}

// ThrottleKey is the client a login attempt from addr is counted against
// in the per-address budget: an IPv4 address as it is (an IPv4-mapped IPv6
// address, ::ffff:192.0.2.1, as its IPv4 address), an IPv6 address as its
// prefix of bits leading bits (2001:db8:1:2::/64), since whoever holds one
// IPv6 address usually holds the whole prefix and could otherwise try from
// a fresh address every time. With bits of 128 or more (or a value
// Prefix refuses) the key is the address itself. Anything that is not an
// IP address is its own key. Only the budget uses this key; audit logs
// show the client's address.
func ThrottleKey(addr string, bits int) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() || bits >= 128 {
		return ip.String()
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// ThrottledError is the error of an attempt the limiter refused: code
// ETOOMANY, and how long the client should wait.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts, retry after %s", e.RetryAfter)
}

// Unwrap gives the error its application code, ETOOMANY.
func (e *ThrottledError) Unwrap() error {
	return store.Errorf(store.ETOOMANY, "too many attempts")
}

// RetryAfter reports how long the client should wait when err is a
// *ThrottledError.
func RetryAfter(err error) (time.Duration, bool) {
	var throttled *ThrottledError
	if errors.As(err, &throttled) {
		return throttled.RetryAfter, true
	}
	return 0, false
}

// verdict is what one attempt came to, shared by every request that
// joined it.
type verdict struct {
	user    store.User
	userID  string // the account tried, when it exists
	err     error
	outcome string // "" when the attempt ended in an internal error
}

// Check authenticates email and password for a client at addr ("" for
// none); the attempt is counted against addr's ThrottleKey. Errors:
// ENOTFOUND "no user found for this email",
// EUNAUTHORIZED "wrong password", a *ThrottledError, or a store error.
// The user returned carries the password hash the password matched, so a
// caller can make a later write conditional on it.
func (l *Login) Check(ctx context.Context, email, password, addr string) (store.User, error) {
	account := store.EmailKey(email)
	if u, ok := l.recall(ctx, account, email, password); ok {
		return u, nil
	}
	client := ThrottleKey(addr, l.ipv6Bits)
	key := l.flight(account, password, client)
	v, _, _ := l.flights.Do(key, func() (any, error) {
		// The attempt is shared: one caller going away must not end it
		// for the others.
		return l.attempt(context.WithoutCancel(ctx), account, email, password, client), nil
	})
	res := v.(verdict)
	l.report(ctx, res)
	return res.user, res.err
}

// flight is the key under which identical attempts are shared. The
// client (ThrottleKey of its address) is part of it: each client pays for
// its own attempts.
func (l *Login) flight(account, password, client string) string {
	mac := hmac.New(sha256.New, l.flightKey[:])
	for _, s := range []string{account, password, client} {
		mac.Write([]byte(s))
		mac.Write([]byte{0})
	}
	return string(mac.Sum(nil))
}

// recall answers credentials that verified within the cache's lifetime
// against the user's current hash; the user is read fresh. Such a request
// is no attempt, but it still clears the account's failures, as a
// verified success does.
func (l *Login) recall(ctx context.Context, account, email, password string) (store.User, bool) {
	if l.remembered == nil {
		return store.User{}, false
	}
	id, hash, ok := l.remembered.Lookup(email, password)
	if !ok {
		return store.User{}, false
	}
	u, err := l.accounts.Users.UserByID(ctx, id)
	if err != nil || u.PasswordHash != hash || store.EmailKey(u.Email) != account {
		return store.User{}, false
	}
	if err := l.limiter.Success(ctx, account, ""); err != nil {
		// Failures left on record only delay attackers longer.
		l.accounts.log().WarnContext(ctx, "login limiter unavailable", "err", err.Error())
	}
	return u, true
}

// attempt is throttle, verify (with rehash) and the limiter's outcome;
// client is the ThrottleKey of the client's address.
func (l *Login) attempt(ctx context.Context, account, email, password, client string) verdict {
	wait, ok, err := l.limiter.Allow(ctx, account, client)
	if err != nil {
		return verdict{err: err}
	}
	if !ok {
		return verdict{err: &ThrottledError{RetryAfter: wait}, outcome: metrics.LoginThrottled}
	}
	u, err := l.verify(ctx, email, password)
	switch store.ErrorCode(err) {
	case "":
		if u.Factors.Enrolled() {
			// Half a sign-in: the account's failures stay until the
			// second factor is right, or guessing codes between two
			// correct passwords would never be slowed down.
			if err := l.limiter.Abandon(ctx, account); err != nil {
				return verdict{err: err}
			}
			return verdict{user: u, userID: u.ID, outcome: metrics.LoginSuccess}
		}
		if err := l.limiter.Success(ctx, account, client); err != nil {
			return verdict{err: err}
		}
		if l.remembered != nil {
			l.remembered.Remember(email, password, u.ID, u.PasswordHash)
		}
		return verdict{user: u, userID: u.ID, outcome: metrics.LoginSuccess}
	case store.ENOTFOUND, store.EUNAUTHORIZED:
		if ferr := l.limiter.Failure(ctx, account); ferr != nil {
			return verdict{err: ferr}
		}
		outcome := metrics.LoginWrongPassword
		if store.ErrorCode(err) == store.ENOTFOUND {
			outcome = metrics.LoginUnknownEmail
		}
		return verdict{userID: u.ID, err: err, outcome: outcome}
	default:
		if aerr := l.limiter.Abandon(ctx, account); aerr != nil {
			l.accounts.log().WarnContext(ctx, "login limiter unavailable", "err", aerr.Error())
		}
		return verdict{err: err}
	}
}

// report audits a failed attempt and tells the observer its outcome, once
// for every request, including those that shared an attempt.
func (l *Login) report(ctx context.Context, v verdict) {
	if v.outcome == "" {
		return
	}
	if l.observe != nil {
		l.observe(v.outcome)
	}
	if v.outcome == metrics.LoginSuccess {
		return
	}
	attrs := []slog.Attr{slog.String("reason", v.outcome)}
	if v.userID != "" {
		attrs = append(attrs, slog.String("user_id", v.userID))
	}
	Audit(ctx, l.accounts.log(), slog.LevelWarn, EventLoginFailed, attrs...)
}

// verify checks an email and password. An unknown email costs the same
// hash work as a wrong password, so the two cannot be told apart by
// timing. A hash that is legacy SHA-256 or weaker than the current
// parameters is replaced by a fresh argon2id hash. On a wrong password the
// user is returned with the error, so that the failure can name the
// account.
func (l *Login) verify(ctx context.Context, email, password string) (store.User, error) {
	a := l.accounts
	u, err := a.Users.UserByEmail(ctx, email)
	if err != nil {
		if store.ErrorCode(err) != store.ENOTFOUND {
			return store.User{}, err
		}
		if err := a.Hasher.VerifyDummy(password); err != nil {
			return store.User{}, err // saturated: 503, not a false 404
		}
		return store.User{}, store.Errorf(store.ENOTFOUND, MsgNoUserForEmail)
	}
	if u.PasswordHash == "" {
		if err := a.Hasher.VerifyDummy(password); err != nil {
			return store.User{}, err
		}
		return u, store.Errorf(store.EUNAUTHORIZED, MsgWrongPassword)
	}
	ok, needsRehash, verr := a.Hasher.Verify(password, u.PasswordHash)
	if errors.Is(verr, ErrBusy) {
		return store.User{}, verr
	}
	if verr != nil {
		a.log().WarnContext(ctx, "stored password hash is malformed", "user_id", u.ID, "err", verr.Error())
	}
	if !ok {
		return u, store.Errorf(store.EUNAUTHORIZED, MsgWrongPassword)
	}
	if needsRehash {
		u.PasswordHash = a.rehash(ctx, u, password)
	}
	return u, nil
}

// ChangePassword replaces the password of caller after checking the
// current one through Check (so it is throttled and audited like a login).
// The new password is checked first, which costs no hash work. The hash
// is replaced only if it is still the one the current password matched,
// so of parallel changes exactly one succeeds; the others get EUNAUTHORIZED
// "wrong password". EFORBIDDEN: the caller's account is gone.
func (l *Login) ChangePassword(ctx context.Context, caller store.User, current, newPassword, addr string) error {
	a := l.accounts
	if err := a.ValidatePassword(newPassword); err != nil {
		return err
	}
	u, err := l.Check(ctx, caller.Email, current, addr)
	if store.ErrorCode(err) == store.ENOTFOUND || err == nil && u.ID != caller.ID {
		return store.Errorf(store.EFORBIDDEN, "Forbidden")
	}
	if err != nil {
		return err
	}
	hash, err := a.Hasher.Hash(newPassword)
	if err != nil {
		return err
	}
	_, err = a.Users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		if cur.PasswordHash != u.PasswordHash {
			return store.Errorf(store.EUNAUTHORIZED, MsgWrongPassword) // changed since it was checked
		}
		cur.PasswordHash = hash
		cur.UpdatedAt = a.now()
		return nil
	})
	if store.ErrorCode(err) == store.ENOTFOUND {
		return store.Errorf(store.EFORBIDDEN, "Forbidden")
	}
	if err != nil {
		return err
	}
	Audit(ctx, a.log(), slog.LevelInfo, EventPasswordChanged, slog.String("user_id", u.ID))
	return nil
}

// CheckFactor runs check, the verification of a second-factor code for
// the account of email, as a login attempt of a client at addr: refused
// with a *ThrottledError while the account or the client is throttled; a
// wrong code (check returns EUNAUTHORIZED) is a failure of the account,
// and a right one a success that clears its failures. Any other error of
// check (a malformed code, an outage) counts neither way.
func (l *Login) CheckFactor(ctx context.Context, email, addr string, check func() error) error {
	return l.checkAttempt(ctx, store.EmailKey(email), addr, check)
}

// CheckPasskeySignIn runs check, the verification of a passkey that signs
// in alone, as a login attempt of a client at addr. Whose passkey it is
// is known only once it verified, so failures are counted against the
// client's address (its ThrottleKey) as an account of its own: an
// address that keeps presenting passkeys that do not verify is slowed
// down as one that keeps guessing a password, and no account can be
// throttled by someone else's failures. A success gives the attempt back
// to the address's budget, as a login does.
func (l *Login) CheckPasskeySignIn(ctx context.Context, addr string, check func() error) error {
	return l.checkAttempt(ctx, l.passkeyAccount(addr), addr, check)
}

// BeginPasskeySignIn spends one attempt of the budget of a client at addr
// on the start of a sign-in by passkey, which anyone may ask for and
// which the session store keeps for a while: refused with a
// *ThrottledError while the client is throttled. It is no failure.
func (l *Login) BeginPasskeySignIn(ctx context.Context, addr string) error {
	account := l.passkeyAccount(addr)
	wait, ok, err := l.limiter.Allow(ctx, account, ThrottleKey(addr, l.ipv6Bits))
	if err != nil {
		return err
	}
	if !ok {
		return &ThrottledError{RetryAfter: wait}
	}
	return l.limiter.Abandon(ctx, account)
}

// RefuseToken counts an access token that authenticated nobody as a
// failed attempt of a client at addr: against the address's budget, and
// against an account of its own per address, as a passkey that does not
// verify is. It returns ErrInvalidToken, or a *ThrottledError when addr
// is throttled already (the refusal is then not counted again).
func (l *Login) RefuseToken(ctx context.Context, addr string) error {
	account := "access tokens from " + ThrottleKey(addr, l.ipv6Bits) // no email holds a space
	return l.checkAttempt(ctx, account, addr, func() error { return ErrInvalidToken })
}

// passkeyAccount is the limiter's account of the passkey sign-ins from
// addr. An email never holds a space, so it is no person's account.
func (l *Login) passkeyAccount(addr string) string {
	return "passkey sign-in from " + ThrottleKey(addr, l.ipv6Bits)
}

// checkAttempt runs check as one attempt on the limiter's account
// (CheckFactor says how its outcome counts).
func (l *Login) checkAttempt(ctx context.Context, account, addr string, check func() error) error {
	wait, ok, err := l.limiter.Allow(ctx, account, ThrottleKey(addr, l.ipv6Bits))
	if err != nil {
		return err
	}
	if !ok {
		return &ThrottledError{RetryAfter: wait}
	}
	err = check()
	var end error
	switch store.ErrorCode(err) {
	case "":
		end = l.limiter.Success(ctx, account, ThrottleKey(addr, l.ipv6Bits))
	case store.EUNAUTHORIZED:
		end = l.limiter.Failure(ctx, account)
	default:
		end = l.limiter.Abandon(ctx, account)
	}
	if end != nil && err == nil {
		return end
	}
	if end != nil {
		l.accounts.log().WarnContext(ctx, "login limiter unavailable", "err", end.Error())
	}
	return err
}
