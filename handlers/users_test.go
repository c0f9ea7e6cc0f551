package handlers

import (
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/store"
)

// TestUserWireFormat holds the user object to its documented bytes: keys
// in order, names and a legacy user's missing email and times as null,
// times in UTC without zone or fraction, strings escaped as encoding/json
// does, and never the password hash.
func TestUserWireFormat(t *testing.T) {
	first, last := `Zoë <"the" & \ one>`, "bad \xff \u2028"
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		user store.User
		want string
	}{
		{store.User{ID: "u1", Email: "a@example.com", PasswordHash: "$argon2id$secret", FirstName: &first, LastName: &last,
			Role: store.RoleAdmin, CreatedAt: at, UpdatedAt: at.Add(time.Hour)},
			`{"created_at":"2026-01-02T02:04:05","email":"a@example.com",` +
				`"first_name":"Zoë \u003c\"the\" \u0026 \\ one\u003e","id":"u1","last_name":"bad \ufffd \u2028",` +
				`"role":"admin","updated_at":"2026-01-02T03:04:05"}`},
		{store.User{ID: "u2", Email: "b@example.com", Role: store.RoleUser, CreatedAt: at, UpdatedAt: at},
			`{"created_at":"2026-01-02T02:04:05","email":"b@example.com","first_name":null,"id":"u2",` +
				`"last_name":null,"role":"user","updated_at":"2026-01-02T02:04:05"}`},
		{store.User{ID: "u3", Role: store.RoleUser}, // legacy: no email, names or times
			`{"created_at":null,"email":null,"first_name":null,"id":"u3","last_name":null,"role":"user","updated_at":null}`},
	} {
		gin.SetMode(gin.TestMode)
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		writeUser(c, 200, tc.user)
		if got := rec.Body.String(); got != tc.want {
			t.Errorf("user %s:\n got %s\nwant %s", tc.user.ID, got, tc.want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		list, err := json.Marshal([]*userJSON{toUserJSON(tc.user)})
		if err != nil {
			t.Fatal(err)
		}
		if string(list) != "["+tc.want+"]" {
			t.Errorf("list: got %s", list)
		}
	}
}

// formatTime writes timeFormat in UTC for any instant and year.
func TestFormatTimeIsTimeFormatInUTC(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("E", 5*3600+45*60), time.FixedZone("W", -11*3600)}
	times := []time.Time{
		time.Now(), time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Unix(0, 0), time.Unix(-1, 0),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		times = append(times, time.Unix(rng.Int64N(800_000_000_000)-400_000_000_000, rng.Int64N(1e9)))
	}
	for i, tm := range times {
		tm = tm.In(zones[i%len(zones)])
		if got, want := *formatTime(tm), tm.UTC().Format(timeFormat); got != want {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
	if formatTime(time.Time{}) != nil {
		t.Error("the zero time is not null")
	}
}
