package tests

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Names with control characters are refused on create and update, and
// nothing is stored; ordinary names with any script or punctuation pass.
func TestNamesRefuseControlCharacters(t *testing.T) {
	s := newServer(t, "AUTH_TYPE", "basic_auth")
	bob := s.createUser("bob@example.com")
	bad := map[string]string{
		"NUL":          "a\x00b",
		"tab":          "a\tb",
		"newline":      "Bob\nINFO fake log line",
		"escape":       "\x1b[31mred",
		"DEL":          "a\x7fb",
		"C1 NEL":       "a\u0085b",
		"C1 CSI":       "a\u009bb",
		"unit sep end": "Bob\x1f",
	}
	for name, value := range bad {
		t.Run(name, func(t *testing.T) {
			v := quote(value)
			rec := s.do("POST", "/api/v1/users", `{"email":"new@example.com","password":"`+userPassword+`","first_name":`+v+`}`, asAdmin())
			assertError(t, rec, 400, "first_name invalid")
			rec = s.do("POST", "/api/v1/users", `{"email":"new@example.com","password":"`+userPassword+`","last_name":`+v+`}`, asAdmin())
			assertError(t, rec, 400, "last_name invalid")
			rec = s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":`+v+`}`, asAdmin())
			assertError(t, rec, 400, "first_name invalid")
			rec = s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":"Bobby","last_name":`+v+`}`, asAdmin())
			assertError(t, rec, 400, "last_name invalid")
		})
	}
	// Nothing was created or changed.
	rec := s.do("GET", "/api/v1/users", "", asAdmin())
	var users []userJSON
	assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &users))
	assert.Len(t, users, 2)
	rec = s.do("GET", "/api/v1/users/"+bob.ID, "", asAdmin())
	assert.JSONEq(t, `null`, string(mustField(t, rec.Body.Bytes(), "first_name")))

	for _, good := range []string{"José", "O'Brien-Smith", "李", "Zoë Ann", ""} {
		rec := s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":`+quote(good)+`,"last_name":`+quote(good)+`}`, asAdmin())
		assert.Equal(t, 200, rec.Code, "%q: %s", good, rec.Body.String())
	}
}

func mustField(t *testing.T, body []byte, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	assert.NoError(t, json.Unmarshal(body, &m))
	return m[key]
}
