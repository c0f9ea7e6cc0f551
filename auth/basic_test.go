package auth

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func basicHeader(credentials string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(credentials))
}

func TestParseBasic(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		email    string
		password string
	}{
		{"valid", basicHeader("bob@example.com:H0lberton School 98!"), "bob@example.com", "H0lberton School 98!"},
		{"password with colons", basicHeader("bob@example.com:pa:ss:word"), "bob@example.com", "pa:ss:word"},
		{"empty password", basicHeader("bob@example.com:"), "bob@example.com", ""},
		{"unicode", basicHeader("zoë@example.com:mot de passe ünïcødé"), "zoë@example.com", "mot de passe ünïcødé"},
		{"unpadded", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("a@b.c:pw")), "a@b.c", "pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email, password, err := ParseBasic(tt.header)
			require.NoError(t, err)
			assert.Equal(t, tt.email, email)
			assert.Equal(t, tt.password, password)
		})
	}
}

func TestParseBasicRefused(t *testing.T) {
	valid := base64.StdEncoding.EncodeToString([]byte("bob@example.com:secret"))
	tests := []struct {
		name   string
		header string
	}{
		{"empty header", ""},
		{"lower-case scheme", "basic " + valid},
		{"upper-case scheme", "BASIC " + valid},
		{"bearer", "Bearer " + valid},
		{"scheme only", "Basic"},
		{"no credentials", "Basic "},
		{"two spaces", "Basic  " + valid},
		{"tab", "Basic\t" + valid},
		{"trailing space", "Basic " + valid + " "},
		{"bad base64", "Basic not*base64!"},
		{"url-safe base64", "Basic YTpi-_8="},
		{"line break", "Basic " + valid[:8] + "\r\n" + valid[8:]},
		{"non-canonical bits", "Basic YTp="}, // "a:" is YTo=
		{"no colon", basicHeader("bob@example.com")},
		{"empty email", basicHeader(":secret")},
		{"invalid utf-8", basicHeader("bob@example.com:\xff\xfe")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email, password, err := ParseBasic(tt.header)
			require.ErrorIs(t, err, ErrBadBasic)
			assert.Empty(t, email)
			assert.Empty(t, password)
			assert.NotContains(t, err.Error(), "secret", "the reason never quotes credentials")
		})
	}
}

func FuzzParseBasic(f *testing.F) {
	for _, seed := range []string{
		basicHeader("bob@example.com:secret"),
		basicHeader("bob@example.com:pa:ss:word"),
		basicHeader("bob@example.com"),
		basicHeader(":secret"),
		basicHeader("bob@example.com:\xff"),
		"basic " + base64.StdEncoding.EncodeToString([]byte("a@b.c:pw")),
		"Bearer abc.def.ghi",
		"Basic not*base64!",
		"Basic YTpi",
		"Basic YTpiYw",
		"Basic ",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		email, password, err := ParseBasic(header)
		if err != nil {
			return
		}
		again, pw, err := ParseBasic(basicHeader(email + ":" + password))
		if err != nil {
			t.Fatalf("re-encoded credentials do not parse: %v", err)
		}
		if again != email || pw != password {
			t.Fatalf("round trip changed credentials: %q:%q became %q:%q", email, password, again, pw)
		}
	})
}
