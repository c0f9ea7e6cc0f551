package handlers

import (
	"encoding/json"
	"testing"
	"time"

	"simpleapi/store"
)

// TestAppendUserMatchesEncodingJSON holds the hand-written user encoder to
// what encoding/json writes for the same object, including escaping and
// null fields, and checks that the password hash never appears.
func TestAppendUserMatchesEncodingJSON(t *testing.T) {
	first, last := `Zoë <"the" & \ one>`, "bad \xff \u2028"
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	for _, u := range []store.User{
		{ID: "u1", Email: "a@example.com", PasswordHash: "$argon2id$secret", FirstName: &first, LastName: &last,
			Role: store.RoleAdmin, CreatedAt: at, UpdatedAt: at.Add(time.Hour)},
		{ID: "u2", Role: store.RoleUser}, // legacy: no email, names or times
	} {
		type reference struct {
			CreatedAt *string `json:"created_at"`
			Email     *string `json:"email"`
			FirstName *string `json:"first_name"`
			ID        string  `json:"id"`
			LastName  *string `json:"last_name"`
			Role      string  `json:"role"`
			UpdatedAt *string `json:"updated_at"`
		}
		ref := reference{CreatedAt: formatTime(u.CreatedAt), FirstName: u.FirstName, ID: u.ID,
			LastName: u.LastName, Role: string(u.Role), UpdatedAt: formatTime(u.UpdatedAt)}
		if u.Email != "" {
			ref.Email = &u.Email
		}
		want, err := json.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendUser(nil, u); string(got) != string(want) {
			t.Errorf("appendUser:\n got %s\nwant %s", got, want)
		}
		list, err := json.Marshal([]userJSON{userJSON(u)})
		if err != nil {
			t.Fatal(err)
		}
		if string(list) != "["+string(want)+"]" {
			t.Errorf("list: got %s", list)
		}
	}
}
