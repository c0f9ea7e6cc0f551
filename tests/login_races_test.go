package tests

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Read-check-write of a user under parallel requests: every request that
// answers 200 made the change that holds (until a later one); the others
// answer an error, never 200.

// raceModes are the two ways a client authenticates.
var raceModes = []string{"basic_auth", "session_db_auth"}

// signIn returns the option that authenticates email in s's mode: Basic
// credentials, or the cookie of a fresh session.
func signIn(s *server, email, password string) option {
	s.t.Helper()
	if s.env["AUTH_TYPE"] == "basic_auth" {
		return basicAuth(email, password)
	}
	return withCookie(s.sessionCookie(email, password))
}

// canSignIn reports whether email and password are accepted now, after
// any login delay has passed.
func canSignIn(s *server, email, password string) bool {
	s.t.Helper()
	s.clock.Advance(3600)
	if s.env["AUTH_TYPE"] == "basic_auth" {
		return s.do("GET", "/api/v1/users/me", "", basicAuth(email, password)).Code == 200
	}
	return s.loginForm(email, password).Code == 200
}

func TestParallelPasswordChanges(t *testing.T) {
	for _, mode := range raceModes {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, "AUTH_TYPE", mode)
			admin := signIn(s, adminEmail, adminPassword)
			rec := s.do("POST", "/api/v1/users", `{"email":"bob@example.com","password":"`+userPassword+`"}`, admin)
			require.Equal(t, 201, rec.Code, rec.Body.String())
			const n = 10
			clients := make([]option, n)
			for i := range clients {
				clients[i] = signIn(s, "bob@example.com", userPassword)
			}
			newPassword := func(i int) string { return fmt.Sprintf("new-password-%d", i) }

			answers := parallel(n, func(i int) *httptest.ResponseRecorder {
				return s.do("PUT", "/api/v1/users/me/password",
					`{"current_password":"`+userPassword+`","new_password":"`+newPassword(i)+`"}`, clients[i])
			})
			winner := -1
			for i, rec := range answers {
				switch rec.Code {
				case 200:
					require.Equal(t, -1, winner, "two changes answered 200 (%d and %d)", winner, i)
					winner = i
				case 401:
					assertError(t, rec, 401, "wrong password")
				case 403:
					assertError(t, rec, 403, "Forbidden")
				case 429: // losers that failed after the change may meet the delay
					assertError(t, rec, 429, "Too many requests")
				default:
					t.Errorf("request %d: %d %s", i, rec.Code, rec.Body.String())
				}
			}
			require.NotEqual(t, -1, winner, "one change succeeds")
			assert.True(t, canSignIn(s, "bob@example.com", newPassword(winner)), "the change answered 200 holds")
			assert.False(t, canSignIn(s, "bob@example.com", userPassword))
			for i := range n {
				if i != winner {
					assert.False(t, canSignIn(s, "bob@example.com", newPassword(i)), "change %d was refused", i)
				}
			}
		})
	}
}

func TestParallelDemotionsKeepAnAdmin(t *testing.T) {
	for _, mode := range raceModes {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, "AUTH_TYPE", mode)
			admin := signIn(s, adminEmail, adminPassword)
			rec := s.do("POST", "/api/v1/users", `{"email":"bob@example.com","password":"`+userPassword+`","role":"admin"}`, admin)
			require.Equal(t, 201, rec.Code, rec.Body.String())
			bobID := decodeUser(t, rec.Body.Bytes()).ID
			adminID := s.userByEmailAs(admin, adminEmail).ID
			bob := signIn(s, "bob@example.com", userPassword)

			// Each admin demotes the other at once: both cannot hold.
			answers := parallel(2, func(i int) *httptest.ResponseRecorder {
				if i == 0 {
					return s.do("PUT", "/api/v1/users/"+bobID, `{"role":"user"}`, admin)
				}
				return s.do("PUT", "/api/v1/users/"+adminID, `{"role":"user"}`, bob)
			})
			ok := 0
			for i, rec := range answers {
				switch rec.Code {
				case 200:
					ok++
				case 409:
					assertError(t, rec, 409, "last admin")
				case 403: // the caller was demoted first; in session mode its sessions ended
					assertError(t, rec, 403, "Forbidden")
				default:
					t.Errorf("request %d: %d %s", i, rec.Code, rec.Body.String())
				}
			}
			assert.Equal(t, 1, ok, "exactly one demotion holds")
			roles := map[string]string{}
			for email, password := range map[string]string{adminEmail: adminPassword, "bob@example.com": userPassword} {
				me := signIn(s, email, password)
				rec := s.do("GET", "/api/v1/users/me", "", me)
				require.Equal(t, 200, rec.Code)
				roles[email] = decodeUser(t, rec.Body.Bytes()).Role
			}
			if answers[0].Code == 200 {
				assert.Equal(t, map[string]string{adminEmail: "admin", "bob@example.com": "user"}, roles)
			} else {
				assert.Equal(t, map[string]string{adminEmail: "user", "bob@example.com": "admin"}, roles)
			}
		})
	}
}

func TestParallelUpdateAndDelete(t *testing.T) {
	for _, mode := range raceModes {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, "AUTH_TYPE", mode)
			admin := signIn(s, adminEmail, adminPassword)
			for round := 0; round < 5; round++ {
				email := fmt.Sprintf("bob%d@example.com", round)
				rec := s.do("POST", "/api/v1/users", `{"email":"`+email+`","password":"`+userPassword+`"}`, admin)
				require.Equal(t, 201, rec.Code, rec.Body.String())
				id := decodeUser(t, rec.Body.Bytes()).ID
				bob := signIn(s, email, userPassword)

				answers := parallel(3, func(i int) *httptest.ResponseRecorder {
					switch i {
					case 0:
						return s.do("DELETE", "/api/v1/users/"+id, "", admin)
					case 1:
						return s.do("PUT", "/api/v1/users/"+id, `{"first_name":"Admin"}`, admin)
					default:
						return s.do("PUT", "/api/v1/users/me", `{"last_name":"Self"}`, bob)
					}
				})
				assertBody(t, answers[0], 200, `{}`)
				for i, rec := range answers[1:] {
					switch rec.Code {
					case 200: // it came first
					case 404:
						assertError(t, rec, 404, "Not found")
					case 403: // bob's credentials died with bob
						assertError(t, rec, 403, "Forbidden")
					default:
						t.Errorf("round %d update %d: %d %s", round, i, rec.Code, rec.Body.String())
					}
				}
				assertError(t, s.do("GET", "/api/v1/users/"+id, "", admin), 404, "Not found")
				assertError(t, s.do("GET", "/api/v1/users/me", "", bob), 403, "Forbidden")
			}
		})
	}
}

// userByEmailAs finds a user through the API with the given credentials.
func (s *server) userByEmailAs(as option, email string) userJSON {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/users", "", as)
	require.Equal(s.t, 200, rec.Code)
	var users []userJSON
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &users))
	for _, u := range users {
		if u.Email != nil && *u.Email == email {
			return u
		}
	}
	s.t.Fatalf("no user %s", email)
	return userJSON{}
}
