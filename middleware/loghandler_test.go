package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// slogLine is the line slog's own handler writes for a.
func slogLine(t *testing.T, json bool, a *accessRecord) string {
	t.Helper()
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var h slog.Handler = slog.NewTextHandler(&buf, opts)
	if json {
		h = slog.NewJSONHandler(&buf, opts)
	}
	if err := h.Handle(context.Background(), a.record()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// checkLine requires LogHandler's line for a to be slog's, byte for byte,
// or the shortcut to be declined (then slog writes it); it reports
// whether the shortcut was taken.
func checkLine(t *testing.T, json bool, a *accessRecord) bool {
	t.Helper()
	var out bytes.Buffer
	h := NewLogHandler(&out, json, slog.LevelInfo)
	if !h.writeAccess(a) {
		return false
	}
	if want := slogLine(t, json, a); out.String() != want {
		t.Errorf("json %v:\n got %q\nwant %q", json, out.String(), want)
	}
	return true
}

func TestAccessLineIsSlogs(t *testing.T) {
	base := accessRecord{
		time:   time.Date(2026, 11, 29, 18, 8, 12, 345_678_912, time.UTC),
		method: "GET", route: "/api/v1/users/:id", status: 200, durationMS: 0.123456, bytes: 171,
		clientIP: "127.0.0.1", requestID: "0b6c5d1e-6f2a-4c39-9d55-8a3e2f1b7c40",
		userID: "5f0c8a7e-2b1d-4e3f-8a9b-0c1d2e3f4a5b",
	}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("IST", 5*3600+30*60),
		time.FixedZone("W", -3*3600), time.FixedZone("odd", 3600+15*60+20)}
	times := []time.Time{
		time.Now(), time.Now().Add(time.Second), time.Now(), // the cached second, then another, then back
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1_000_000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.UTC),
		time.Unix(0, 0), time.Unix(-1, 500_000_000), time.Unix(-86400*365*3000, 7),
		time.Date(0, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		// The spring and autumn changes of a zone with daylight saving.
		time.Date(2026, 3, 29, 0, 59, 59, 999_000_000, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 0, 59, 59, 500_000_000, time.UTC), time.Date(2026, 10, 25, 1, 0, 0, 1, time.UTC),
		{},
	}
	if berlin, err := time.LoadLocation("Europe/Berlin"); err == nil {
		zones = append(zones, berlin)
	}
	durations := []float64{0, math.Copysign(0, -1), 1e-7, 1e-6, 0.000_999, 0.123456, 1.5, 12345.678, 1e20, 1e21,
		1e300, math.NaN(), math.Inf(1), 5e-324, -2.5}
	taken := 0
	for _, json := range []bool{false, true} {
		for _, tm := range times {
			for _, loc := range zones {
				a := base
				a.time = tm.In(loc)
				for _, d := range durations {
					a.durationMS = d
					if checkLine(t, json, &a) {
						taken++
					}
				}
			}
		}
		for _, v := range []string{"", "a b", `a"b`, "a=b", `a\b`, "é", "<>&", "a\nb", "\x7f", "HTTP/1.1", "x:y-z_0.9"} {
			for i := range 5 {
				a := base
				*[]*string{&a.method, &a.route, &a.clientIP, &a.requestID, &a.userID}[i] = v
				if checkLine(t, json, &a) {
					taken++
				}
			}
		}
		a := base
		a.userID = ""
		a.status, a.bytes = 404, 0
		if !checkLine(t, json, &a) {
			t.Errorf("json %v: an anonymous line took slog's path", json)
		}
	}
	// The lines the service writes all take the shortcut.
	for _, json := range []bool{false, true} {
		a := base
		a.time = time.Now()
		if !checkLine(t, json, &a) {
			t.Errorf("json %v: a usual line took slog's path", json)
		}
	}
	if taken < 1000 {
		t.Errorf("only %d lines took the shortcut", taken)
	}

	// Random instants in random zones, many seconds apart and within one.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		a := base
		sec := rng.Int64N(600_000_000_000) - 300_000_000_000
		if rng.IntN(2) == 0 {
			sec = 1_795_000_000 + rng.Int64N(3)
		}
		a.time = time.Unix(sec, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
		a.durationMS = rng.Float64() * math.Pow(10, float64(rng.IntN(12)-6))
		checkLine(t, rng.IntN(2) == 0, &a)
	}
}
