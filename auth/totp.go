package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// TOTP as authenticator apps know it (RFC 6238): HMAC-SHA-1, 6 digits, a
// new code every 30 seconds; a code one step early or late is accepted for
// clock skew between the phone and the server.
const (
	TOTPIssuer     = "Simple API"
	TOTPPeriod     = 30 * time.Second
	totpDigits     = 6
	totpSkewSteps  = 1
	totpSecretSize = 20 // bytes: 160 bits, RFC 4226's recommendation for SHA-1
)

// secretEncoding is how a TOTP secret is written for people and apps:
// base32 without padding.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPSecret returns a fresh random secret.
func newTOTPSecret() []byte {
	b := make([]byte, totpSecretSize)
	_, _ = rand.Read(b)
	return b
}

// TOTPURI is the otpauth URI an authenticator app reads (from a QR code)
// to add the account: the issuer and the email as its label.
func TOTPURI(secret []byte, email string) string {
	q := url.Values{}
	q.Set("secret", secretEncoding.EncodeToString(secret))
	q.Set("issuer", TOTPIssuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	return "otpauth://totp/" + uriEscape(TOTPIssuer) + ":" + uriEscape(email) + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// uriEscape escapes s for the label of an otpauth URI: as in a query, but
// a space is %20, since apps do not all read + as one (and a + in an
// email must stay one).
func uriEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// totpStep is the time step of t: whole periods since the Unix epoch.
func totpStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode is the code of secret at time step step.
func TOTPCode(secret []byte, step int64) string {
	code, err := hotp.GenerateCodeCustom(secretEncoding.EncodeToString(secret), uint64(step), hotp.ValidateOpts{
		Digits:    otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		panic(err) // the secret was base32-encoded just above
	}
	return code
}

// matchTOTP returns the time step whose code code is, among the steps
// within the skew of now that come after lastStep (a code is good once),
// latest first; ok is false when none matches. Every candidate is
// compared in constant time.
func matchTOTP(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	current := totpStep(now)
	for s := current + totpSkewSteps; s >= current-totpSkewSteps; s-- {
		if s <= lastStep {
			break
		}
		if subtle.ConstantTimeCompare([]byte(TOTPCode(secret, s)), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// usedTOTP reports whether code is the code of a step within the skew of
// now that was already used (at or before lastStep): a replay, told apart
// from a wrong code so that the person sees why.
func usedTOTP(secret []byte, code string, now time.Time, lastStep int64) bool {
	current := totpStep(now)
	for s := current - totpSkewSteps; s <= current+totpSkewSteps && s <= lastStep; s++ {
		if subtle.ConstantTimeCompare([]byte(TOTPCode(secret, s)), []byte(code)) == 1 {
			return true
		}
	}
	return false
}

// validTOTPFormat reports whether code is six ASCII digits.
func validTOTPFormat(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
