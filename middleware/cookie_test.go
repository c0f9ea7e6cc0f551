package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTestCookies() *SessionCookies {
	return NewSessionCookies(CookieConfig{
		Name: "_my_session_id", Secrets: [][]byte{testSecret}, Secure: "auto", SameSite: "lax", MaxAgeSeconds: 86400,
	})
}

// signedCookie writes a cookie carrying token through the gin-contrib
// sessions middleware, as login does, and returns its value.
func signedCookie(t testing.TB, sc *SessionCookies, token string) string {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/", sc.Middleware(), func(c *gin.Context) {
		require.NoError(t, sc.Set(c, token, 3600))
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for _, c := range rec.Result().Cookies() {
		if c.Name == sc.Name() {
			return c.Value
		}
	}
	t.Fatal("no cookie written")
	return ""
}

func requestWithCookie(name, value string) *http.Request {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", name+"="+value)
	return req
}

func TestTokenRoundTrip(t *testing.T) {
	sc := newTestCookies()
	value := signedCookie(t, sc, "the-token")
	for i := 0; i < 2; i++ { // the second read comes from the cache
		token, present, ok := sc.Token(requestWithCookie(sc.Name(), value))
		assert.True(t, present)
		assert.True(t, ok)
		assert.Equal(t, "the-token", token.Value)
		assert.Equal(t, auth.HashToken("the-token"), token.Hash, "the hash the session lookup uses")
	}
	_, present, _ := sc.Token(httptest.NewRequest("GET", "/", nil))
	assert.False(t, present)
	_, present, ok := sc.Token(requestWithCookie(sc.Name(), ""))
	assert.True(t, present, "an empty cookie counts as present")
	assert.False(t, ok)

	other := NewSessionCookies(CookieConfig{Name: "_my_session_id", Secrets: [][]byte{[]byte(strings.Repeat("z", 32))}})
	_, _, ok = other.Token(requestWithCookie(sc.Name(), value))
	assert.False(t, ok, "another secret does not verify it")
}

// A value the store's parser would skip must not be remembered as valid
// because a later cookie of the same name verified.
func TestCacheKeyedByTheVerifiedValue(t *testing.T) {
	sc := newTestCookies()
	valid := signedCookie(t, sc, "the-token")
	for i := 0; i < 50; i++ {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", sc.Name()+"="+strings.Repeat("j", 100)+"\\"+strings.Repeat("x", i)+"; "+sc.Name()+"="+valid)
		_, present, ok := sc.Token(req)
		assert.True(t, present)
		assert.False(t, ok, "the first value is what counts, and it is not signed")
	}
	assert.Empty(t, sc.verified)
	_, _, ok := sc.Token(requestWithCookie(sc.Name(), strings.Repeat("A", maxCookieValue+1)))
	assert.False(t, ok)
	_, _, ok = sc.Token(requestWithCookie(sc.Name(), valid))
	assert.True(t, ok)
	assert.Len(t, sc.verified, 1)
}

func TestCookieValueParsing(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Add("Cookie", "a=1; _my_session_id=\"abc\"; b=2")
	v, ok := cookieValue(req, "_my_session_id")
	assert.True(t, ok)
	assert.Equal(t, "abc", v)
	_, ok = cookieValue(req, "_my_session")
	assert.False(t, ok)
}

// FuzzCookieToken feeds arbitrary cookie values to the decoder: it must
// never panic, and only the exact signed value yields the token.
func FuzzCookieToken(f *testing.F) {
	sc := newTestCookies()
	valid := signedCookie(f, sc, "fuzz-token")
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid + "A")
	f.Add("")
	f.Add("garbage")
	f.Add(strings.Repeat("A", 300))
	f.Add("MTcwMDAwMDAwMHxkZWFkYmVlZnxzaWc=")
	f.Fuzz(func(t *testing.T, value string) {
		token, _, ok := sc.Token(requestWithCookie(sc.Name(), value))
		if ok && (token.Value != "fuzz-token" || token.Hash != auth.HashToken("fuzz-token")) {
			t.Fatalf("value %q decoded to unexpected token %q", value, token)
		}
		if ok && value != valid {
			// Different bytes may still decode if they are the same
			// signed value after base64 normalisation; the token must be
			// the signed one, which was checked above.
			return
		}
	})
}

// BenchmarkCookieDecode compares the gin-contrib cookie store's own
// decoding (base64, HMAC-SHA256, gob) with the verified-cookie cache that
// serves repeat requests. Run with
//
//	go test -run '^$' -bench CookieDecode -benchmem ./middleware
func BenchmarkCookieDecode(b *testing.B) {
	sc := newTestCookies()
	value := signedCookie(b, sc, "0123456789012345678901234567890123456789012")
	req := requestWithCookie(sc.Name(), value)
	b.Run("cookie_store_default", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := sc.store.New(req, sc.Name())
			if err != nil || s.Values[tokenKey] == nil {
				b.Fatal("decode failed")
			}
		}
	})
	b.Run("verified_cache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := sc.Token(req); !ok {
				b.Fatal("decode failed")
			}
		}
	})
}

func TestCookieCarriesTheTokenCompactly(t *testing.T) {
	sc := newTestCookies()
	token := "Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFyGI" // as auth makes them: 32 bytes, base64url
	value := signedCookie(t, sc, token)
	assert.LessOrEqual(t, len(value), 120, "date, 33 bytes of token and the HMAC")
	got, _, ok := sc.Token(requestWithCookie(sc.Name(), value))
	require.True(t, ok)
	assert.Equal(t, token, got.Value)
}

// Cookies issued in the store's gob form, before the compact one, keep
// their sessions.
func TestGobCookiesStillVerify(t *testing.T) {
	token := "Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFyGI"
	old := cookie.NewStore(testSecret, nil) // gin-contrib's own store: gob
	r := gin.New()
	r.GET("/", sessions.Sessions("_my_session_id", old), func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set(tokenKey, token)
		require.NoError(t, s.Save())
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	assert.Greater(t, len(cookies[0].Value), 200)

	sc := newTestCookies()
	got, _, ok := sc.Token(requestWithCookie(sc.Name(), cookies[0].Value))
	require.True(t, ok)
	assert.Equal(t, token, got.Value)
}

func TestTokenSerializer(t *testing.T) {
	var s tokenSerializer
	roundTrip := func(values map[any]any) ([]byte, map[any]any) {
		b, err := s.Serialize(values)
		require.NoError(t, err)
		out := map[any]any{}
		require.NoError(t, s.Deserialize(b, &out))
		return b, out
	}
	// A token of a family, and one issued before families.
	family := map[any]any{tokenKey: "Na-oli8H20-8MCXQXZPfwg.6_23Zxn8NOqrMPNPOEFyGA"}
	b, out := roundTrip(family)
	assert.Len(t, b, 33)
	assert.Equal(t, byte(familyMarker), b[0])
	assert.Equal(t, family, out)
	legacy := map[any]any{tokenKey: "Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFyGI"}
	b, out = roundTrip(legacy)
	assert.Len(t, b, 33)
	assert.Equal(t, byte(legacyMarker), b[0])
	assert.Equal(t, legacy, out)

	// Anything else is gob, as the store would write it.
	for _, v := range []map[any]any{
		{tokenKey: "short"},
		{tokenKey: "Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFyGJ"}, // not the one spelling of its bytes
		{tokenKey: "Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFy=I"},
		{tokenKey: "Na-oli8H20-8MCXQXZPfwg.6_23Zxn8NOqrMPNPOEFyGB"},
		{tokenKey: "Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFyGI.6_23Zxn8NOqrMPNPOEFyGA"}, // successor of a pre-family token
		{tokenKey: "Na-oli8H20-8MCXQXZPfwg.6_23Zxn8NOqrMPNPOEFyGA", "other": 1},
		{},
	} {
		b, out := roundTrip(v)
		assert.Greater(t, b[0], byte(familyMarker), "gob")
		assert.Equal(t, v, out)
	}

	out = map[any]any{}
	assert.Error(t, s.Deserialize([]byte{legacyMarker, 1, 2}, &out), "a marker with the wrong length")
	assert.Error(t, s.Deserialize([]byte{familyMarker, 1, 2}, &out), "a marker with the wrong length")
	assert.Error(t, s.Deserialize(append([]byte{familyMarker}, make([]byte, 32)...), new(string)), "not a session's values")
}
