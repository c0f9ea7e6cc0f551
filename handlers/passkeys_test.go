package handlers

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/store"
)

// Ceremony options go out with sorted keys, whatever order go-webauthn's
// types declare, with numbers exactly as they were and nothing dropped.
func TestCeremonyOptionsWireFormat(t *testing.T) {
	options := struct {
		PublicKey struct {
			Zeta      string `json:"zeta"`
			Timeout   int64  `json:"timeout"`
			Challenge string `json:"challenge"`
			Params    []struct {
				Type string `json:"type"`
				Alg  int    `json:"alg"`
			} `json:"pubKeyCredParams"`
		} `json:"publicKey"`
	}{}
	options.PublicKey.Zeta = "<z>"
	options.PublicKey.Timeout = 9007199254740993 // not a float64
	options.PublicKey.Challenge = "abc_-"
	options.PublicKey.Params = append(options.PublicKey.Params, struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	}{"public-key", -257})

	gin.SetMode(gin.TestMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	writeCeremonyOptions(c, options)
	want := `{"publicKey":{"challenge":"abc_-","pubKeyCredParams":[{"alg":-257,"type":"public-key"}],` +
		`"timeout":9007199254740993,"zeta":"\u003cz\u003e"}}`
	if got := rec.Body.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// A passkey as the API shows it: its id in base64url, never its key.
func TestPasskeyWireFormat(t *testing.T) {
	used := time.Date(2026, 1, 3, 4, 5, 6, 700, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		key  store.Passkey
		want string
	}{
		{store.Passkey{ID: []byte{0xde, 0xad, 0xbe, 0xef, 0xfb}, Name: "Laptop", PublicKey: []byte("secret-ish"),
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"created_at":"2026-01-02T03:04:05","id":"3q2-7_s","last_used_at":null,"name":"Laptop"}`},
		{store.Passkey{ID: []byte{1}, Name: `<"Phone">`, CreatedAt: used, LastUsedAt: &used},
			`{"created_at":"2026-01-03T03:05:06","id":"AQ","last_used_at":"2026-01-03T03:05:06","name":"\u003c\"Phone\"\u003e"}`},
	} {
		got, err := json.Marshal(toPasskeyJSON(tc.key))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// The credential of a finishing request is an object, or missing.
func TestReadCredential(t *testing.T) {
	for body, want := range map[string]string{
		`{}`:                           "",
		`{"credential":null}`:          "",
		`{"credential":{"id":"x"}}`:    `{"id":"x"}`,
		`{"credential":"{\"id\":1}"}`:  "Wrong format",
		`{"credential":[{"id":"x"}]}`:  "Wrong format",
		`{"credential":7}`:             "Wrong format",
		`{"name":"a","credential":{}}`: `{}`,
	} {
		var members map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &members); err != nil {
			t.Fatal(err)
		}
		raw, err := readCredential(members)
		got := string(raw)
		if err != nil {
			got = store.ErrorMessage(err)
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
}
