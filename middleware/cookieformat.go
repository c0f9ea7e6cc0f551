package middleware

import (
	"encoding/base64"
	"errors"

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
// tokenSerializer writes the 32 token bytes behind a marker byte instead,
// which makes the cookie about 120 bytes rather than about 215. Cookies in
// the gob form (issued before) still verify and carry the same token.

// tokenMarker starts the compact form. A gob stream never starts with a
// zero byte (its first byte is a non-zero message length).
const tokenMarker = 0x00

// tokenSerializer is a securecookie.Serializer for session values that
// hold only a token (auth.TokenBytes, base64url); anything else goes
// through gob, as before.
type tokenSerializer struct{ gob securecookie.GobEncoder }

func (s tokenSerializer) Serialize(src any) ([]byte, error) {
	if values, ok := src.(map[any]any); ok && len(values) == 1 {
		if token, ok := values[tokenKey].(string); ok && base64.RawURLEncoding.DecodedLen(len(token)) == auth.TokenBytes {
			out := make([]byte, 1+auth.TokenBytes)
			out[0] = tokenMarker
			if n, err := base64.RawURLEncoding.Decode(out[1:], []byte(token)); err == nil && n == auth.TokenBytes &&
				base64.RawURLEncoding.EncodeToString(out[1:]) == token { // the one spelling of those bytes
				return out, nil
			}
		}
	}
	return s.gob.Serialize(src)
}

func (s tokenSerializer) Deserialize(src []byte, dst any) error {
	if len(src) == 0 || src[0] != tokenMarker {
		return s.gob.Deserialize(src, dst)
	}
	values, ok := dst.(*map[any]any)
	if !ok || len(src) != 1+auth.TokenBytes {
		return errors.New("session cookie: not a token")
	}
	if *values == nil {
		*values = make(map[any]any, 1)
	}
	(*values)[tokenKey] = base64.RawURLEncoding.EncodeToString(src[1:])
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
