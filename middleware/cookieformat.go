package middleware

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/gin-contrib/sessions"
	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"

	"simpleapi/auth"
)

// The session cookie carries one value, the token, signed by the cookie
// store (gorilla/securecookie: "date|value|HMAC", base64). The store's
// default serialiser, gob, spends about 60 bytes on type names for a
// one-entry map, and every request carries the cookie: net/http checks
// each of its bytes twice, so its length is paid on every request.
// tokenSerializer writes the token's 32 random bytes behind a marker byte
// instead, which makes the cookie about 120 bytes rather than about 215.
// Cookies in the gob form still verify and carry the same token.

// Markers start the compact forms. A gob stream never starts with a zero
// or one byte (its first byte is a non-zero message length, and a
// one-byte message cannot hold a map).
const (
	legacyMarker = 0x00 // 32 bytes: a token issued before token families
	familyMarker = 0x01 // 16 + 16 bytes: "<family secret>.<secret>"
)

// legacyTokenBytes is the size of a token issued before token families.
const legacyTokenBytes = 32

// tokenSerializer is a securecookie.Serializer for session values that
// hold only a token; anything else goes through gob, as before.
type tokenSerializer struct{ gob securecookie.GobEncoder }

func (s tokenSerializer) Serialize(src any) ([]byte, error) {
	if values, ok := src.(map[any]any); ok && len(values) == 1 {
		if token, ok := values[tokenKey].(string); ok {
			if out, ok := compactToken(token); ok {
				return out, nil
			}
		}
	}
	return s.gob.Serialize(src)
}

// compactToken is the compact form of token, when it has one.
func compactToken(token string) ([]byte, bool) {
	if family, secret, ok := strings.Cut(token, "."); ok {
		out := []byte{familyMarker}
		out, ok1 := appendRaw(out, family, auth.FamilyBytes)
		out, ok2 := appendRaw(out, secret, auth.SecretBytes)
		return out, ok1 && ok2
	}
	return appendRaw([]byte{legacyMarker}, token, legacyTokenBytes)
}

// appendRaw appends the n bytes that s spells in base64url, if s is the
// one spelling of n bytes.
func appendRaw(dst []byte, s string, n int) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != n || base64.RawURLEncoding.EncodeToString(b) != s {
		return dst, false
	}
	return append(dst, b...), true
}

func (s tokenSerializer) Deserialize(src []byte, dst any) error {
	if len(src) == 0 || src[0] > familyMarker {
		return s.gob.Deserialize(src, dst)
	}
	values, ok := dst.(*map[any]any)
	if !ok {
		return errors.New("session cookie: not a token")
	}
	var token string
	switch {
	case src[0] == legacyMarker && len(src) == 1+legacyTokenBytes:
		token = base64.RawURLEncoding.EncodeToString(src[1:])
	case src[0] == familyMarker && len(src) == 1+auth.FamilyBytes+auth.SecretBytes:
		token = base64.RawURLEncoding.EncodeToString(src[1:1+auth.FamilyBytes]) + "." +
			base64.RawURLEncoding.EncodeToString(src[1+auth.FamilyBytes:])
	default:
		return errors.New("session cookie: not a token")
	}
	if *values == nil {
		*values = make(map[any]any, 1)
	}
	(*values)[tokenKey] = token
	return nil
}

// cookieStore is gin-contrib/sessions' cookie store (cookie.NewStore) with
// tokenSerializer in its codecs, which that constructor does not let us
// reach.
type cookieStore struct{ *gsessions.CookieStore }

func newCookieStore(keyPairs ...[]byte) cookieStore {
	st := gsessions.NewCookieStore(keyPairs...)
	for _, c := range st.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(tokenSerializer{})
		}
	}
	return cookieStore{st}
}

// Options is what sessions.Store adds to gorilla's store.
func (s cookieStore) Options(o sessions.Options) { s.CookieStore.Options = o.ToGorillaOptions() }
