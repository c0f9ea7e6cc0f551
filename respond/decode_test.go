package respond

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"simpleapi/store"
)

func decode(contentType, body string) error {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if contentType != "" {
		c.Request.Header.Set("Content-Type", contentType)
	}
	_, err := DecodeObject(c)
	return err
}

func TestDecodeObject(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		ok                      bool
	}{
		{"object", "application/json", `{"a":"b"}`, true},
		{"charset", "application/json; charset=utf-8", `{"a":"b"}`, true},
		{"+json type", "application/merge-patch+json", `{"a":"b"}`, true},
		{"text/plain", "text/plain", `{"a":"b"}`, false},
		{"form type", "application/x-www-form-urlencoded", `{"a":"b"}`, false},
		{"no type", "", `{"a":"b"}`, false},
		{"bad type", "application/", `{"a":"b"}`, false},
		{"+json outside application", "text/x+json", `{"a":"b"}`, false},
		{"duplicate key", "application/json", `{"role":"user","role":"admin"}`, false},
		{"duplicate key escaped", "application/json", `{"role":"user","\u0072ole":"admin"}`, false},
		{"duplicate key nested", "application/json", `{"a":{"x":1,"x":2}}`, false},
		{"duplicate key in array object", "application/json", `{"a":[{"x":1},{"x":1,"x":2}]}`, false},
		{"same key in sibling objects", "application/json", `{"a":{"x":1},"b":{"x":[1,{"x":2}]},"x":"x"}`, true},
		{"keys differing in case", "application/json", `{"role":"user","Role":"admin"}`, true},
		{"value equal to a key", "application/json", `{"a":"a","b":"a"}`, true},
		{"lone high surrogate", "application/json", `{"a":"\ud800"}`, false},
		{"lone low surrogate", "application/json", `{"a":"\udc00"}`, false},
		{"high surrogate then text", "application/json", `{"a":"\ud800x\udc00"}`, false},
		{"two high surrogates", "application/json", `{"a":"\ud800\ud800"}`, false},
		{"surrogate at end", "application/json", `{"a":"x\uDBFF"}`, false},
		{"surrogate in a key", "application/json", `{"\ud800":"x"}`, false},
		{"surrogate pair", "application/json", `{"a":"\ud83d\ude00"}`, true},
		{"escaped backslash then u", "application/json", `{"a":"\\ud800"}`, true},
		{"ordinary escapes", "application/json", `{"a":"\u00e9\n\"\\"}`, true},
		{"raw invalid UTF-8", "application/json", "{\"a\":\"\xff\"}", false},
		{"array", "application/json", `[]`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(tc.contentType, tc.body)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, store.EINVALID, store.ErrorCode(err))
			assert.Equal(t, MsgWrongFormat, store.ErrorMessage(err))
		})
	}
}

func TestStatus(t *testing.T) {
	for code, status := range map[string]int{
		store.EINVALID: 400, store.EUNAUTHORIZED: 401, store.EFORBIDDEN: 403, store.ENOTFOUND: 404,
		ENOTALLOWED: 405, store.ECONFLICT: 409, store.ETOOLARGE: 413, store.ETOOMANY: 429,
		store.EINTERNAL: 500, store.EUNAVAILABLE: 503, "something else": 500,
	} {
		assert.Equal(t, status, Status(code), code)
	}
}

// FuzzDecodeObject: any body is either decoded or refused with a client
// error, never a panic; what is accepted has no repeated key and decodes
// to valid UTF-8 without replacement characters it did not spell.
func FuzzDecodeObject(f *testing.F) {
	for _, seed := range []string{`{"a":"b"}`, `{"a":"\ud800"}`, `{"a":"\ud83d\ude00"}`, `{"a":1,"a":2}`,
		`{"a":{"b":[{"c":1,"c":2}]}}`, `{"\\":"\\u"}`, `{"a":"\uDBFF\uDFFF"}`, "{\"a\":\"\xff\"}", `[]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		c.Request.Header.Set("Content-Type", "application/json")
		members, err := DecodeObject(c)
		if err != nil {
			assert.Equal(t, store.EINVALID, store.ErrorCode(err))
			return
		}
		for k, v := range members {
			assert.True(t, utf8.ValidString(k))
			if s, ok := String(members, k); ok {
				assert.True(t, utf8.ValidString(s))
				if strings.ContainsRune(s, utf8.RuneError) {
					assert.True(t, strings.Contains(string(v), "\uFFFD") || strings.Contains(strings.ToLower(string(v)), `\ufffd`),
						"a replacement character appeared: %q", v)
				}
			}
		}
	})
}
