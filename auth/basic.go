package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrBadBasic is returned (wrapped, with a reason) by ParseBasic for any
// header that is not usable Basic credentials. Reasons never contain the
// credentials.
var ErrBadBasic = errors.New("auth: bad Basic authorization header")

// ParseBasic parses an Authorization header of basic_auth mode:
// "Basic " + base64(email ":" password).
//
//   - The scheme is case-sensitive, as in the old service: "basic" is refused.
//   - Exactly one space separates scheme and credentials.
//   - Credentials are standard base64, with padding or, leniently, without.
//   - The decoded text must be valid UTF-8 and is split at the first colon,
//     so the password may contain ':' but the email may not.
//   - The email must not be empty; an empty password is returned as is and
//     simply fails verification.
func ParseBasic(header string) (email, password string, err error) {
	encoded, ok := strings.CutPrefix(header, "Basic ")
	if !ok {
		return "", "", fmt.Errorf("%w: scheme is not Basic", ErrBadBasic)
	}
	raw, err := decodeBasic(encoded)
	if err != nil {
		return "", "", fmt.Errorf("%w: credentials are not base64", ErrBadBasic)
	}
	if !utf8.Valid(raw) {
		return "", "", fmt.Errorf("%w: credentials are not UTF-8", ErrBadBasic)
	}
	email, password, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("%w: no colon in credentials", ErrBadBasic)
	}
	if email == "" {
		return "", "", fmt.Errorf("%w: empty email", ErrBadBasic)
	}
	return email, password, nil
}

// decodeBasic decodes standard base64, padded or not. It refuses the CR
// and LF that Go's decoders skip, and (Strict) non-canonical trailing bits,
// so every accepted header has a single spelling per padding style.
func decodeBasic(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	if len(s)%4 == 0 {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}
