package tests

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var wireTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)

func decodeUser(t *testing.T, body []byte) userJSON {
	t.Helper()
	var u userJSON
	require.NoError(t, json.Unmarshal(body, &u))
	return u
}

func TestStatusRoutes(t *testing.T) {
	s := newServer(t)
	s.createUser("bob@example.com")
	bob := basicAuth("bob@example.com", userPassword)

	for _, who := range []struct {
		name string
		opts []option
	}{{"anonymous", nil}, {"user", []option{bob}}, {"admin", []option{asAdmin()}}} {
		t.Run(who.name, func(t *testing.T) {
			assertBody(t, s.do("GET", "/api/v1/status", "", who.opts...), 200, `{"status":"OK"}`)
			assertBody(t, s.do("GET", "/api/v1/status/", "", who.opts...), 200, `{"status":"OK"}`)
			assertError(t, s.do("GET", "/api/v1/unauthorized", "", who.opts...), 401, "Unauthorized")
			assertError(t, s.do("GET", "/api/v1/forbidden/", "", who.opts...), 403, "Forbidden")
			assertBody(t, s.do("GET", "/healthz", "", who.opts...), 200, `{"status":"OK"}`)
			assertBody(t, s.do("GET", "/readyz", "", who.opts...), 200, `{"status":"OK"}`)
		})
	}

	assertError(t, s.do("GET", "/api/v1/stats", ""), 401, "Unauthorized")
	assertBody(t, s.do("GET", "/api/v1/stats", "", bob), 200, `{"users":2}`)
	assertBody(t, s.do("GET", "/api/v1/stats/", "", asAdmin()), 200, `{"users":2}`)
}

func TestReadyzFailsWhenStoreClosed(t *testing.T) {
	s := newServer(t)
	s.stop()
	rec := s.do("GET", "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assertBody(t, s.do("GET", "/healthz", ""), 200, `{"status":"OK"}`)
}

func TestListUsers(t *testing.T) {
	s := newServer(t)
	bobUser := s.createUser("bob@example.com")
	carol := s.createUser("carol@example.com")

	assertError(t, s.do("GET", "/api/v1/users", ""), 401, "Unauthorized")
	assertError(t, s.do("GET", "/api/v1/users", "", basicAuth("bob@example.com", userPassword)), 403, "Forbidden")

	rec := s.do("GET", "/api/v1/users/", "", asAdmin())
	require.Equal(t, 200, rec.Code)
	var users []userJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &users))
	require.Len(t, users, 3)
	assert.Equal(t, adminEmail, *users[0].Email, "creation order")
	assert.Equal(t, bobUser.ID, users[1].ID)
	assert.Equal(t, carol.ID, users[2].ID)
	assert.NotContains(t, rec.Body.String(), "_password")
	assert.NotContains(t, rec.Body.String(), "argon2")
}

func TestUserObjectShape(t *testing.T) {
	s := newServer(t)
	rec := s.do("POST", "/api/v1/users", `{"email":"dana@example.com","password":"`+userPassword+`","first_name":"Dana"}`, asAdmin())
	require.Equal(t, 201, rec.Code, rec.Body.String())
	body := rec.Body.String()
	// Keys sorted, compact, null where unset.
	re := regexp.MustCompile(`^\{"created_at":"[^"]+","email":"dana@example\.com","first_name":"Dana","id":"[0-9a-f-]{36}","last_name":null,"role":"user","updated_at":"[^"]+"\}$`)
	assert.Regexp(t, re, body)
	u := decodeUser(t, rec.Body.Bytes())
	parsed, err := uuid.Parse(u.ID)
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(4), parsed.Version())
	assert.Regexp(t, wireTime, *u.CreatedAt)
	assert.Regexp(t, wireTime, *u.UpdatedAt)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func TestGetUser(t *testing.T) {
	s := newServer(t)
	bobUser := s.createUser("bob@example.com")
	carol := s.createUser("carol@example.com")
	bob := basicAuth("bob@example.com", userPassword)
	unknown := uuid.NewString()

	assertError(t, s.do("GET", "/api/v1/users/"+bobUser.ID, ""), 401, "Unauthorized")
	assertError(t, s.do("GET", "/api/v1/users/me", ""), 401, "Unauthorized")

	// A user sees only themselves, by id or as "me".
	for _, path := range []string{"/api/v1/users/" + bobUser.ID, "/api/v1/users/me", "/api/v1/users/me/"} {
		rec := s.do("GET", path, "", bob)
		require.Equal(t, 200, rec.Code, path)
		assert.Equal(t, bobUser, decodeUser(t, rec.Body.Bytes()), path)
	}
	assertError(t, s.do("GET", "/api/v1/users/"+carol.ID, "", bob), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/users/"+unknown, "", bob), 403, "Forbidden")

	// An admin sees anyone; unknown ids are 404.
	rec := s.do("GET", "/api/v1/users/"+carol.ID, "", asAdmin())
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, carol, decodeUser(t, rec.Body.Bytes()))
	assertError(t, s.do("GET", "/api/v1/users/"+unknown, "", asAdmin()), 404, "Not found")
	rec = s.do("GET", "/api/v1/users/me", "", asAdmin())
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "admin", decodeUser(t, rec.Body.Bytes()).Role)
}

func TestCreateUserErrorsInOrder(t *testing.T) {
	s := newServer(t)
	s.createUser("taken@example.com")
	bob := s.createUser("bob@example.com")
	_ = bob
	long := strings.Repeat("é", 129)
	cases := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"no body", "", 400, "Wrong format"},
		{"not json", "email=a", 400, "Wrong format"},
		{"malformed", `{"email":`, 400, "Wrong format"},
		{"null", `null`, 400, "Wrong format"},
		{"array", `[{"email":"a@b.c"}]`, 400, "Wrong format"},
		{"string", `"a@b.c"`, 400, "Wrong format"},
		{"number", `42`, 400, "Wrong format"},
		{"two objects", `{"email":"a@b.c"}{}`, 400, "Wrong format"},
		{"email missing", `{"password":"secret-password"}`, 400, "email missing"},
		{"email empty", `{"email":"","password":"secret-password"}`, 400, "email missing"},
		{"email null", `{"email":null,"password":"secret-password"}`, 400, "email missing"},
		{"email missing before password", `{}`, 400, "email missing"},
		{"password missing", `{"email":"x@example.com"}`, 400, "password missing"},
		{"password empty", `{"email":"x@example.com","password":""}`, 400, "password missing"},
		{"email not a string", `{"email":5,"password":"secret-password"}`, 400, "Wrong format"},
		{"password not a string", `{"email":"x@example.com","password":12345678}`, 400, "Wrong format"},
		{"first_name not a string", `{"email":"x@example.com","password":"secret-password","first_name":1}`, 400, "Wrong format"},
		{"last_name an object", `{"email":"x@example.com","password":"secret-password","last_name":{}}`, 400, "Wrong format"},
		{"invalid email no at", `{"email":"x.example.com","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email two ats", `{"email":"x@y@example.com","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email empty local", `{"email":"@example.com","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email empty domain", `{"email":"x@","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email too long", `{"email":"` + strings.Repeat("a", 250) + `@b.co","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email before short password", `{"email":"nope","password":"x"}`, 400, "invalid email"},
		{"invalid email with a colon", `{"email":"a:b@example.com","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email with a right-to-left override", `{"email":"\u202eevil@example.com","password":"secret-password"}`, 400, "invalid email"},
		{"invalid email with a space", `{"email":"a b@example.com","password":"secret-password"}`, 400, "invalid email"},
		{"not UTF-8", "{\"email\":\"inv\xff@example.com\",\"password\":\"secret-password\"}", 400, "Wrong format"},
		{"first_name too long", `{"email":"x@example.com","password":"secret-password","first_name":"` + strings.Repeat("n", 256) + `"}`, 400, "first_name too long"},
		{"last_name too long", `{"email":"x@example.com","password":"secret-password","last_name":"` + strings.Repeat("n", 256) + `"}`, 400, "last_name too long"},
		{"password too short", `{"email":"x@example.com","password":"1234567"}`, 400, "password too short"},
		{"password too long", `{"email":"x@example.com","password":"` + long + `"}`, 400, "password too long"},
		{"duplicate", `{"email":"taken@example.com","password":"secret-password"}`, 409, "email already registered"},
		{"duplicate other case", `{"email":"TAKEN@Example.com","password":"secret-password"}`, 409, "email already registered"},
		{"duplicate before invalid role", `{"email":"taken@example.com","password":"secret-password","role":"root"}`, 409, "email already registered"},
		{"invalid role", `{"email":"x@example.com","password":"secret-password","role":"root"}`, 400, "invalid role"},
		{"role not a string", `{"email":"x@example.com","password":"secret-password","role":1}`, 400, "invalid role"},
		{"role empty", `{"email":"x@example.com","password":"secret-password","role":""}`, 400, "invalid role"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, s.do("POST", "/api/v1/users", tc.body, asAdmin()), tc.status, tc.msg)
		})
	}
	// None of the failures stored anything.
	assertBody(t, s.do("GET", "/api/v1/stats", "", asAdmin()), 200, `{"users":3}`)

	assertError(t, s.do("POST", "/api/v1/users", `{"email":"y@example.com","password":"secret-password"}`), 401, "Unauthorized")
	assertError(t, s.do("POST", "/api/v1/users", `{"email":"y@example.com","password":"secret-password"}`,
		basicAuth("bob@example.com", userPassword)), 403, "Forbidden")
}

func TestCreateUserSuccess(t *testing.T) {
	s := newServer(t)
	// Exactly 8 and 128 characters, counted as characters, any Unicode.
	eight := "pässwörd"
	rec := s.do("POST", "/api/v1/users", `{"email":"eve@example.com","password":"`+eight+`","first_name":null,"last_name":"Lee"}`, asAdmin())
	require.Equal(t, 201, rec.Code, rec.Body.String())
	eve := decodeUser(t, rec.Body.Bytes())
	assert.Equal(t, "eve@example.com", *eve.Email)
	assert.Nil(t, eve.FirstName)
	assert.Equal(t, "Lee", *eve.LastName)
	assert.Equal(t, "user", eve.Role)
	assertBody(t, s.do("GET", "/api/v1/users/me", "", basicAuth("eve@example.com", eight)), 200, rec.Body.String())

	max := strings.Repeat("密", 128)
	rec = s.do("POST", "/api/v1/users", `{"email":"Max@Example.com","password":"`+max+`","role":"admin"}`, asAdmin())
	require.Equal(t, 201, rec.Code, rec.Body.String())
	assert.Equal(t, "admin", decodeUser(t, rec.Body.Bytes()).Role)
	// Login is case-insensitive on the email and exact on the password.
	assert.Equal(t, 200, s.do("GET", "/api/v1/users", "", basicAuth("max@example.com", max)).Code)
	assert.Equal(t, 403, s.do("GET", "/api/v1/users", "", basicAuth("max@example.com", max[:len(max)-3])).Code)
}

func TestUpdateUser(t *testing.T) {
	s := newServer(t)
	bobUser := s.createUser("bob@example.com")
	carol := s.createUser("carol@example.com")
	bob := basicAuth("bob@example.com", userPassword)
	unknown := uuid.NewString()

	assertError(t, s.do("PUT", "/api/v1/users/"+bobUser.ID, `{}`), 401, "Unauthorized")
	assertError(t, s.do("PUT", "/api/v1/users/"+carol.ID, `{"first_name":"X"}`, bob), 403, "Forbidden")
	assertError(t, s.do("PUT", "/api/v1/users/"+unknown, `{"first_name":"X"}`, bob), 403, "Forbidden")
	assertError(t, s.do("PUT", "/api/v1/users/"+unknown, `{"first_name":"X"}`, asAdmin()), 404, "Not found")
	assertError(t, s.do("PUT", "/api/v1/users/"+unknown, `not json`, asAdmin()), 404, "Not found")

	for _, body := range []string{"", "nope", "null", "[]", `"x"`, `{"first_name":`} {
		assertError(t, s.do("PUT", "/api/v1/users/me", body, bob), 400, "Wrong format")
	}
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"first_name":5}`, bob), 400, "Wrong format")
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"last_name":"`+strings.Repeat("é", 256)+`"}`, bob), 400, "last_name too long")
	assertError(t, s.do("PUT", "/api/v1/users/me", "{\"first_name\":\"\xff\"}", bob), 400, "Wrong format")
	rec255 := s.do("PUT", "/api/v1/users/me", `{"first_name":"`+strings.Repeat("é", 255)+`"}`, bob)
	require.Equal(t, 200, rec255.Code, "255 characters are fine")

	rec := s.do("PUT", "/api/v1/users/me", `{"first_name":"Bob","last_name":"Builder","email":"new@example.com","password":"x"}`, bob)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	u := decodeUser(t, rec.Body.Bytes())
	assert.Equal(t, "Bob", *u.FirstName)
	assert.Equal(t, "Builder", *u.LastName)
	assert.Equal(t, "bob@example.com", *u.Email, "email is ignored")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bob).Code, "password is ignored")

	// null is ignored, "" is applied.
	rec = s.do("PUT", "/api/v1/users/"+bobUser.ID, `{"first_name":null,"last_name":""}`, bob)
	require.Equal(t, 200, rec.Code)
	u = decodeUser(t, rec.Body.Bytes())
	assert.Equal(t, "Bob", *u.FirstName)
	assert.Equal(t, "", *u.LastName)

	// Role: admins only.
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"role":"admin"}`, bob), 403, "Forbidden")
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"role":"user"}`, bob), 403, "Forbidden")
	assertError(t, s.do("PUT", "/api/v1/users/"+bobUser.ID, `{"role":"root"}`, asAdmin()), 400, "invalid role")
	assertError(t, s.do("PUT", "/api/v1/users/"+bobUser.ID, `{"role":7}`, asAdmin()), 400, "invalid role")
	rec = s.do("PUT", "/api/v1/users/"+bobUser.ID, `{"role":"admin"}`, asAdmin())
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "admin", decodeUser(t, rec.Body.Bytes()).Role)
	// Read fresh on the next request: bob is an admin now.
	assert.Equal(t, 200, s.do("GET", "/api/v1/users", "", bob).Code)

	// Admin edits someone else's names.
	rec = s.do("PUT", "/api/v1/users/"+carol.ID, `{"first_name":"Carol"}`, asAdmin())
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "Carol", *decodeUser(t, rec.Body.Bytes()).FirstName)
}

func TestUpdateMovesUpdatedAt(t *testing.T) {
	s := newServer(t)
	created := s.createUser("bob@example.com")
	s.clock.Advance(3600)
	rec := s.do("PUT", "/api/v1/users/"+created.ID, `{}`, asAdmin())
	require.Equal(t, 200, rec.Code)
	u := decodeUser(t, rec.Body.Bytes())
	assert.Equal(t, *created.CreatedAt, *u.CreatedAt)
	assert.NotEqual(t, *created.UpdatedAt, *u.UpdatedAt)
	assert.Equal(t, created.FirstName, u.FirstName)
}

func TestLastAdmin(t *testing.T) {
	s := newServer(t)
	admin := s.userByEmail(adminEmail)
	assertError(t, s.do("DELETE", "/api/v1/users/"+admin.ID, "", asAdmin()), 409, "last admin")
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"role":"user"}`, asAdmin()), 409, "last admin")
	assertError(t, s.do("DELETE", "/api/v1/users/me", "", asAdmin()), 409, "last admin")

	// With a second admin, the first may step down.
	rec := s.do("POST", "/api/v1/users", `{"email":"second@example.com","password":"`+userPassword+`","role":"admin"}`, asAdmin())
	require.Equal(t, 201, rec.Code)
	rec = s.do("PUT", "/api/v1/users/me", `{"role":"user"}`, asAdmin())
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assertError(t, s.do("GET", "/api/v1/users", "", asAdmin()), 403, "Forbidden")
	second := basicAuth("second@example.com", userPassword)
	assertError(t, s.do("DELETE", "/api/v1/users/me", "", second), 409, "last admin")
}

func TestDeleteUser(t *testing.T) {
	s := newServer(t)
	bobUser := s.createUser("bob@example.com")
	carol := s.createUser("carol@example.com")
	dave := s.createUser("dave@example.com")
	bob := basicAuth("bob@example.com", userPassword)
	unknown := uuid.NewString()

	assertError(t, s.do("DELETE", "/api/v1/users/"+bobUser.ID, ""), 401, "Unauthorized")
	assertError(t, s.do("DELETE", "/api/v1/users/"+carol.ID, "", bob), 403, "Forbidden")
	assertError(t, s.do("DELETE", "/api/v1/users/"+unknown, "", bob), 403, "Forbidden")
	assertError(t, s.do("DELETE", "/api/v1/users/"+unknown, "", asAdmin()), 404, "Not found")

	assertBody(t, s.do("DELETE", "/api/v1/users/"+carol.ID, "", asAdmin()), 200, `{}`)
	assertError(t, s.do("GET", "/api/v1/users/"+carol.ID, "", asAdmin()), 404, "Not found")
	assertError(t, s.do("DELETE", "/api/v1/users/"+carol.ID, "", asAdmin()), 404, "Not found")

	// A user may delete themselves; their credentials stop working at once.
	assertBody(t, s.do("DELETE", "/api/v1/users/me/", "", bob), 200, `{}`)
	assertError(t, s.do("GET", "/api/v1/users/me", "", bob), 403, "Forbidden")
	assertBody(t, s.do("DELETE", "/api/v1/users/"+dave.ID, "", basicAuth("dave@example.com", userPassword)), 200, `{}`)
	assertBody(t, s.do("GET", "/api/v1/stats", "", asAdmin()), 200, `{"users":1}`)
	// The email can be registered again.
	s.createUser("carol@example.com")
}
