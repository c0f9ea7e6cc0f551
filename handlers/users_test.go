package handlers

import (
	"encoding/json"
	"math/rand/v2"
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

// TestAppendTimeMatchesFormat holds appendTime to time.Format with
// timeFormat in UTC, in any zone and for any year.
func TestAppendTimeMatchesFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("E", 5*3600+45*60), time.FixedZone("W", -11*3600)}
	times := []time.Time{
		time.Now(), time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Unix(0, 0), time.Unix(-1, 0),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20_000 {
		times = append(times, time.Unix(rng.Int64N(800_000_000_000)-400_000_000_000, rng.Int64N(1e9)))
	}
	for i, tm := range times {
		tm = tm.In(zones[i%len(zones)])
		want := `"` + tm.UTC().Format(timeFormat) + `"`
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
	if got := string(appendTime([]byte("x"), time.Time{})); got != "xnull" {
		t.Errorf("zero time: %s", got)
	}
}
