// Command load drives a running Simple API for bench/http.sh: a login
// storm from many client addresses while a signed-in user keeps reading,
// and a soak of mixed traffic with resource samples. It only ever talks to
// the base URL it is given (the script gives it 127.0.0.1), and every loop
// is bounded in count and time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load freeport | cookie | cookies | storm | soak [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "freeport":
		err = freePort()
	case "cookie":
		err = cookieCmd(os.Args[2:])
	case "cookies":
		err = cookiesCmd(os.Args[2:])
	case "storm":
		err = storm(os.Args[2:])
	case "soak":
		err = soak(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// freePort prints a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

// client is shared by every request: keep-alive connections, bounded time.
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0},
}

// login signs in and returns the "name=value" of the session cookie.
func login(base, email, password, forwardedFor string) (cookie string, status int, err error) {
	form := url.Values{"email": {email}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/auth_session/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			return c.Name + "=" + c.Value, resp.StatusCode, nil
		}
	}
	return "", resp.StatusCode, nil
}

func cookieCmd(args []string) error {
	fs := flag.NewFlagSet("cookie", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:5000", "base URL")
	email := fs.String("email", "", "email")
	password := fs.String("password", "", "password")
	_ = fs.Parse(args)
	c, status, err := login(*base, *email, *password, "")
	if err != nil {
		return err
	}
	if c == "" {
		return fmt.Errorf("login answered %d without a cookie", status)
	}
	fmt.Println(c)
	return nil
}

// cookiesCmd signs in as the admin, creates n users (or finds them from an
// earlier run), signs each in and prints their session cookies, one per
// line: the read benchmarks spread their requests over many sessions and
// users, as real traffic does.
func cookiesCmd(args []string) error {
	fs := flag.NewFlagSet("cookies", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:5000", "base URL")
	email := fs.String("email", "", "admin email")
	password := fs.String("password", "", "admin password")
	n := fs.Int("n", 64, "users")
	_ = fs.Parse(args)
	admin, status, err := login(*base, *email, *password, "")
	if err != nil || admin == "" {
		return fmt.Errorf("admin login answered %d: %v", status, err)
	}
	const userPassword = "bench-user-password-1"
	for i := range *n {
		userEmail := fmt.Sprintf("reader%d@example.com", i)
		body := map[string]string{"email": userEmail, "password": userPassword}
		if got, _, err := do(http.MethodPost, *base+"/api/v1/users", admin, body); err != nil || (got != 201 && got != 409) {
			return fmt.Errorf("creating user %d: status %d, %v", i, got, err)
		}
		c, status, err := login(*base, userEmail, userPassword, "")
		if err != nil || c == "" {
			return fmt.Errorf("login of user %d answered %d: %v", i, status, err)
		}
		fmt.Println(c)
	}
	return nil
}

// do sends one request and returns its status and how long it took.
func do(method, u, cookie string, body any) (int, time.Duration, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return 0, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}

// doDecode sends one request and returns its status and the "id" of the
// JSON object it answered.
func doDecode(method, u, cookie string, body any) (int, string, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", cookie)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.ID, nil
}

// percentile returns the p-th percentile (0–100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// reader calls GET /users/me in a loop until ctx ends and returns the
// latencies it saw.
func reader(ctx context.Context, base, cookie string) (lat []time.Duration, bad int) {
	for ctx.Err() == nil {
		status, d, err := do(http.MethodGet, base+"/api/v1/users/me", cookie, nil)
		if err != nil || status != http.StatusOK {
			bad++
			continue
		}
		lat = append(lat, d)
		time.Sleep(2 * time.Millisecond) // a user, not a load generator
	}
	slices.Sort(lat)
	return lat, bad
}

// documentationAddr is the i-th address of the TEST-NET ranges (RFC 5737):
// client addresses that belong to nobody, sent only as X-Forwarded-For.
func documentationAddr(i int) string {
	nets := []string{"192.0.2.", "198.51.100.", "203.0.113."}
	return nets[(i/254)%3] + fmt.Sprint(i%254+1)
}

// procStatus returns a KiB field of /proc/PID/status (VmRSS, VmHWM).
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb
		}
	}
	return -1
}

func storm(args []string) error {
	fs := flag.NewFlagSet("storm", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:5000", "base URL (the server must trust 127.0.0.1 as a proxy)")
	email := fs.String("email", "", "the signed-in user's email")
	password := fs.String("password", "", "the signed-in user's password")
	logins := fs.Int("logins", 500, "concurrent logins in the storm, each from its own address")
	phase := fs.Duration("phase", 3*time.Second, "how long to measure the user before and after the storm")
	pid := fs.Int("pid", 0, "server process id, for its peak RSS")
	_ = fs.Parse(args)

	cookie, status, err := login(*base, *email, *password, "")
	if err != nil || cookie == "" {
		return fmt.Errorf("signing the user in: status %d, %v", status, err)
	}
	measure := func(d time.Duration) ([]time.Duration, int) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return reader(ctx, *base, cookie)
	}
	before, _ := measure(*phase)

	ctx, cancel := context.WithCancel(context.Background())
	type during struct {
		lat []time.Duration
		bad int
	}
	userDone := make(chan during, 1)
	go func() { l, b := reader(ctx, *base, cookie); userDone <- during{l, b} }()

	type result struct {
		status int
		took   time.Duration
	}
	results := make(chan result, *logins)
	start := make(chan struct{})
	for i := range *logins {
		go func() {
			<-start
			t := time.Now()
			// Credential stuffing: a different account and address each.
			_, status, err := login(*base, fmt.Sprintf("victim%d@example.com", i), "not-the-password", documentationAddr(i))
			if err != nil {
				status = 0
			}
			results <- result{status, time.Since(t)}
		}()
	}
	stormStart := time.Now()
	close(start)
	statuses := map[int]int{}
	var slowest time.Duration
	for range *logins {
		r := <-results
		statuses[r.status]++
		slowest = max(slowest, r.took)
	}
	stormTook := time.Since(stormStart)
	cancel()
	d := <-userDone
	after, _ := measure(*phase)

	fmt.Printf("storm: %d logins from %d addresses answered in %s; slowest login %s\n",
		*logins, *logins, stormTook.Round(time.Millisecond), slowest.Round(time.Millisecond))
	keys := make([]int, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("storm: status %d: %d\n", k, statuses[k])
	}
	fmt.Printf("user /users/me before: p50 %s p99 %s (n=%d)\n", ms(percentile(before, 50)), ms(percentile(before, 99)), len(before))
	fmt.Printf("user /users/me during: p50 %s p99 %s (n=%d, failed %d)\n", ms(percentile(d.lat, 50)), ms(percentile(d.lat, 99)), len(d.lat), d.bad)
	fmt.Printf("user /users/me after:  p50 %s p99 %s (n=%d)\n", ms(percentile(after, 50)), ms(percentile(after, 99)), len(after))
	if *pid > 0 {
		fmt.Printf("server peak RSS: %.1f MiB; RSS now: %.1f MiB\n",
			float64(procStatus(*pid, "VmHWM"))/1024, float64(procStatus(*pid, "VmRSS"))/1024)
	}
	var fails []string
	if p := percentile(d.lat, 50); p >= 5*time.Millisecond {
		fails = append(fails, "user p50 during the storm "+ms(p)+" (target < 5 ms)")
	}
	if p := percentile(d.lat, 99); p >= 20*time.Millisecond {
		fails = append(fails, "user p99 during the storm "+ms(p)+" (target < 20 ms)")
	}
	if slowest > 3*time.Second {
		fails = append(fails, "slowest login "+slowest.String()+" (target ≤ 3 s)")
	}
	for k, n := range statuses {
		if k >= 500 && k != http.StatusServiceUnavailable || k == 0 {
			fails = append(fails, fmt.Sprintf("%d answers with status %d", n, k))
		}
	}
	if *pid > 0 {
		if peak := procStatus(*pid, "VmHWM"); peak > 256*1024 {
			fails = append(fails, fmt.Sprintf("peak RSS %.1f MiB (target ≤ 256 MiB)", float64(peak)/1024))
		}
	}
	if len(fails) > 0 {
		for _, f := range fails {
			fmt.Println("storm: MISSED", f)
		}
		return fmt.Errorf("%d storm targets missed", len(fails))
	}
	fmt.Println("storm: all targets met")
	return nil
}
