package auth

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6238, appendix B: the SHA-1 test vectors, truncated to 6 digits.
func TestTOTPCodeMatchesRFC6238(t *testing.T) {
	secret := []byte("12345678901234567890")
	for unix, want := range map[int64]string{
		59:          "287082",
		1111111109:  "081804",
		1111111111:  "050471",
		1234567890:  "005924",
		2000000000:  "279037",
		20000000000: "353130",
	} {
		assert.Equal(t, want, TOTPCode(secret, totpStep(time.Unix(unix, 0))), "T=%d", unix)
	}
}

// The codes are what an independent implementation (the library's own
// time-based API, as apps use it) computes from the URI's secret.
func TestTOTPURIAndAppCodesAgree(t *testing.T) {
	secret := newTOTPSecret()
	uri := TOTPURI(secret, "bob+1@example.com")
	assert.Regexp(t, `^otpauth://totp/Simple%20API:bob%2B1%40example\.com\?`, uri)
	u, err := url.Parse(uri)
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, "Simple API", q.Get("issuer"))
	assert.Contains(t, uri, "issuer=Simple%20API")
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "30", q.Get("period"))

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	code, err := totp.GenerateCode(q.Get("secret"), now)
	require.NoError(t, err)
	step, ok := matchTOTP(secret, code, now, 0)
	assert.True(t, ok)
	assert.Equal(t, totpStep(now), step)
}

func TestTOTPWindow(t *testing.T) {
	secret := newTOTPSecret()
	// The first instant of a step.
	start := time.Unix(totpStep(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))*30, 0)
	code := TOTPCode(secret, totpStep(start))

	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"same step, first second", start, true},
		{"same step, last second", start.Add(29 * time.Second), true},
		{"one step later (the phone is behind)", start.Add(30 * time.Second), true},
		{"end of one step later", start.Add(59 * time.Second), true},
		{"two steps later", start.Add(60 * time.Second), false},
		{"one step earlier (the phone is ahead)", start.Add(-1 * time.Second), true},
		{"start of one step earlier", start.Add(-30 * time.Second), true},
		{"two steps earlier", start.Add(-31 * time.Second), false},
	} {
		_, ok := matchTOTP(secret, code, tc.at, 0)
		assert.Equal(t, tc.ok, ok, tc.name)
	}
}

func TestTOTPCodeIsGoodOnce(t *testing.T) {
	secret := newTOTPSecret()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	code := TOTPCode(secret, totpStep(now))
	step, ok := matchTOTP(secret, code, now, 0)
	require.True(t, ok)

	_, ok = matchTOTP(secret, code, now, step)
	assert.False(t, ok, "the same code again")
	assert.True(t, usedTOTP(secret, code, now, step), "told apart from a wrong code")
	_, ok = matchTOTP(secret, code, now.Add(20*time.Second), step)
	assert.False(t, ok, "the same code later, still inside its window")

	// An earlier step's code after a later one was used: refused too.
	earlier := TOTPCode(secret, totpStep(now)-1)
	_, ok = matchTOTP(secret, earlier, now, step)
	assert.False(t, ok)
	// The next step's code is fine.
	next := TOTPCode(secret, totpStep(now)+1)
	s, ok := matchTOTP(secret, next, now.Add(30*time.Second), step)
	assert.True(t, ok)
	assert.Equal(t, step+1, s)
	assert.False(t, usedTOTP(secret, "000000", now, step) && TOTPCode(secret, step) != "000000")
}

func TestTOTPFormat(t *testing.T) {
	for _, c := range []string{"123456", "000000"} {
		assert.True(t, validTOTPFormat(c), c)
	}
	for _, c := range []string{"", "12345", "1234567", "12345a", "١٢٣٤٥٦", "123 456"} {
		assert.False(t, validTOTPFormat(c), c)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := newRecoveryCodes()
	require.Len(t, codes, RecoveryCodeCount)
	require.Len(t, hashes, RecoveryCodeCount)
	seen := map[string]bool{}
	for i, c := range codes {
		assert.Regexp(t, `^[a-z2-7]{5}-[a-z2-7]{5}$`, c)
		assert.False(t, seen[c], "codes are distinct")
		seen[c] = true
		normal, ok := normalRecoveryCode(c)
		require.True(t, ok)
		assert.Equal(t, hashes[i], hashRecoveryCode(normal))
		// Typed with capitals and spaces, it is the same code.
		upper, ok := normalRecoveryCode(" " + strings.ToUpper(c[:5]) + " " + c[6:])
		require.True(t, ok)
		assert.Equal(t, normal, upper)
		assert.NotContains(t, hashes[i], normal, "only the hash is kept")
	}
	for _, bad := range []string{"", "abcde", "abcde-fghij-k", "abcde-fgh01", "abcdé-fghij"} {
		_, ok := normalRecoveryCode(bad)
		assert.False(t, ok, bad)
	}
}

func TestSealer(t *testing.T) {
	old := []byte("an old session secret of 32 bytes or more")
	current := []byte("the current session secret, 32 bytes or more")
	s, err := NewSealer([][]byte{old})
	require.NoError(t, err)
	sealed := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "user-1")
	assert.NotContains(t, string(sealed), "JBSWY3DPEHPK3PXP")

	plain, err := s.Open(sealed, "user-1")
	require.NoError(t, err)
	assert.Equal(t, "JBSWY3DPEHPK3PXP", string(plain))
	_, err = s.Open(sealed, "user-2")
	assert.Error(t, err, "another user's sealed secret does not open")

	// SESSION_SECRET rotated, the old secret still listed: it opens; new
	// values are sealed under the current one.
	rotated, err := NewSealer([][]byte{current, old})
	require.NoError(t, err)
	plain, err = rotated.Open(sealed, "user-1")
	require.NoError(t, err)
	assert.Equal(t, "JBSWY3DPEHPK3PXP", string(plain))
	fresh := rotated.Seal([]byte("x"), "user-1")
	_, err = s.Open(fresh, "user-1")
	assert.Error(t, err)

	// The old secret dropped: it no longer opens.
	dropped, err := NewSealer([][]byte{current})
	require.NoError(t, err)
	_, err = dropped.Open(sealed, "user-1")
	assert.Error(t, err)

	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	_, err = s.Open(tampered, "user-1")
	assert.Error(t, err)
	_, err = s.Open(sealed[:5], "user-1")
	assert.Error(t, err)
	_, err = NewSealer(nil)
	assert.Error(t, err)
}
