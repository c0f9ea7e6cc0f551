package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Recovery codes: RecoveryCodeCount single-use codes, each 10 random
// base32 characters (50 bits) shown as "xxxxx-xxxxx". They are too random
// to guess within the login throttling, so a plain SHA-256 keeps them
// safely (no slow hash needed).
const (
	RecoveryCodeCount = 10
	recoveryCodeChars = 10
	recoveryAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
)

// newRecoveryCodes returns fresh codes as shown to the user, and their
// hashes as stored.
func newRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		b := make([]byte, recoveryCodeChars)
		_, _ = rand.Read(b)
		for i := range b {
			b[i] = recoveryAlphabet[b[i]%32] // 256 is a multiple of 32: no bias
		}
		code := string(b[:5]) + "-" + string(b[5:])
		codes = append(codes, code)
		hashes = append(hashes, hashRecoveryCode(string(b)))
	}
	return codes, hashes
}

// normalRecoveryCode is a code as typed, without case, spaces and
// hyphens; ok is false when what is left cannot be a recovery code.
func normalRecoveryCode(typed string) (string, bool) {
	s := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(typed))
	if len(s) != recoveryCodeChars {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(recoveryAlphabet, s[i]) < 0 {
			return "", false
		}
	}
	return s, true
}

// hashRecoveryCode is the stored form of a normal code: hex SHA-256.
func hashRecoveryCode(normal string) string {
	sum := sha256.Sum256([]byte(normal))
	return hex.EncodeToString(sum[:])
}
