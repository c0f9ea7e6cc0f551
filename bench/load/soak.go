package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one reading of the server's resources.
type sample struct {
	at         time.Duration
	rssKiB     int64
	goroutines int64
	openFiles  int64
	dataBytes  int64
}

// soak runs mixed traffic at a steady rate for a while, samples the
// server every interval, and fails when a resource keeps growing.
//
// The rate is about half of what this service sustains on two cores:
// password hashing (one slot there, the other core serves requests)
// bounds logins and creates at roughly 28 a second, so the soak logs in
// 10 times and creates 4 users a second; reads run at readRate, far below
// the read capacity, so that the hashing half decides. bench/http.sh lifts
// the per-address login limit, which would otherwise refuse most logins
// from the one address the soak comes from.
func soak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:5000", "base URL")
	metricsURL := fs.String("metrics", "", "the server's metrics URL, for its goroutine count")
	adminEmail := fs.String("email", "", "an admin's email")
	adminPassword := fs.String("password", "", "the admin's password")
	dataDir := fs.String("data-dir", "", "the server's DATA_DIR, whose size is sampled")
	pid := fs.Int("pid", 0, "server process id")
	duration := fs.Duration("duration", 10*time.Minute, "how long to run")
	interval := fs.Duration("interval", 10*time.Second, "sampling interval")
	loginRate := fs.Int("login-rate", 10, "logins (and logouts) per second")
	createRate := fs.Int("create-rate", 4, "users created, updated and deleted per second")
	readRate := fs.Int("read-rate", 500, "GET /users/me per second")
	_ = fs.Parse(args)
	if *pid <= 0 {
		return errors.New("-pid is required")
	}

	admin, status, err := login(*base, *adminEmail, *adminPassword, "")
	if err != nil || admin == "" {
		return fmt.Errorf("signing the admin in: status %d, %v", status, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()

	var ops, failures atomic.Int64
	var wg sync.WaitGroup
	every := func(rate int, op func(i int) error) {
		if rate <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Second / time.Duration(rate))
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					ops.Add(1)
					if err := op(i); err != nil {
						failures.Add(1)
						fmt.Fprintln(os.Stderr, "soak:", err)
					}
				}()
			}
		}()
	}
	expect := func(want int, method, u, cookie string, body any) error {
		got, _, err := do(method, u, cookie, body)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s %s answered %d, want %d", method, strings.TrimPrefix(u, *base), got, want)
		}
		return nil
	}

	// A pool of users who log in, read, and log out or walk away (their
	// sessions expire by the idle timeout the script sets).
	const poolSize = 20
	password := "soak-password-1"
	for i := range poolSize {
		body := map[string]string{"email": fmt.Sprintf("soak%d@example.com", i), "password": password}
		if got, _, err := do(http.MethodPost, *base+"/api/v1/users", admin, body); err != nil || (got != 201 && got != 409) {
			return fmt.Errorf("creating soak user %d: status %d, %v", i, got, err)
		}
	}
	var cookies sync.Map // i → cookie
	every(*loginRate, func(i int) error {
		n := i % poolSize
		c, status, err := login(*base, fmt.Sprintf("soak%d@example.com", n), password, "")
		if err != nil || c == "" {
			return fmt.Errorf("login: status %d, %v", status, err)
		}
		if old, ok := cookies.Swap(n, c); ok && i%3 != 0 {
			// Two in three old sessions log out; the rest expire idle.
			return expect(http.StatusOK, http.MethodDelete, *base+"/api/v1/auth_session/logout", old.(string), nil)
		}
		return nil
	})
	every(*readRate, func(i int) error {
		c, ok := cookies.Load(i % poolSize)
		if !ok {
			return nil
		}
		got, _, err := do(http.MethodGet, *base+"/api/v1/users/me", c.(string), nil)
		if err != nil {
			return err
		}
		if got != http.StatusOK && got != http.StatusForbidden { // 403: logged out meanwhile
			return fmt.Errorf("GET /users/me answered %d", got)
		}
		return nil
	})
	every(*createRate, func(i int) error {
		email := fmt.Sprintf("churn-%d-%d@example.com", time.Now().UnixNano(), i)
		body := map[string]string{"email": email, "password": password}
		id, err := createUser(*base, admin, body)
		if err != nil {
			return err
		}
		if err := expect(http.StatusOK, http.MethodPut, *base+"/api/v1/users/"+id, admin, map[string]string{"first_name": "Soak"}); err != nil {
			return err
		}
		// Deleting a user needs a recent authentication (REAUTH_MAX_AGE),
		// which the admin's session outlives in a long soak, as an
		// operator's would: re-authenticate with the password, as the
		// account page does, and try again.
		u := *base + "/api/v1/users/" + id
		got, _, err := do(http.MethodDelete, u, admin, nil)
		if err == nil && got == http.StatusForbidden {
			reauth := map[string]string{"password": *adminPassword}
			if err := expect(http.StatusOK, http.MethodPost, *base+"/api/v1/auth_session/reauth", admin, reauth); err != nil {
				return err
			}
			got, _, err = do(http.MethodDelete, u, admin, nil)
		}
		if err != nil {
			return err
		}
		if got != http.StatusOK {
			return fmt.Errorf("DELETE /api/v1/users/%s answered %d, want 200", id, got)
		}
		return nil
	})

	var samples []sample
	start := time.Now()
	take := func() {
		s := sample{
			at:         time.Since(start).Round(time.Second),
			rssKiB:     procStatus(*pid, "VmRSS"),
			goroutines: goroutines(*metricsURL),
			openFiles:  openFiles(*pid),
			dataBytes:  dirSize(*dataDir),
		}
		samples = append(samples, s)
		fmt.Printf("soak: t=%-6s rss=%.1fMiB goroutines=%d open_files=%d data=%dKiB ops=%d failures=%d\n",
			s.at, float64(s.rssKiB)/1024, s.goroutines, s.openFiles, s.dataBytes/1024, ops.Load(), failures.Load())
	}
	t := time.NewTicker(*interval)
	take()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			take()
		}
	}
	t.Stop()
	wg.Wait()
	return judge(samples, failures.Load(), ops.Load())
}

// createUser creates a user and returns its id.
func createUser(base, admin string, body map[string]string) (string, error) {
	status, id, err := doDecode(http.MethodPost, base+"/api/v1/users", admin, body)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST /users answered %d", status)
	}
	return id, nil
}

// judge fails when the last third of the samples is clearly above the
// second third (the first third is warm-up).
func judge(samples []sample, failures, ops int64) error {
	fmt.Printf("soak: %d operations, %d failed\n", ops, failures)
	if len(samples) < 6 {
		return fmt.Errorf("only %d samples: run longer", len(samples))
	}
	third := len(samples) / 3
	mid, last := samples[third:2*third], samples[2*third:]
	peak := func(ss []sample, f func(sample) int64) int64 {
		return slices.Max(sliceOf(ss, f))
	}
	median := func(ss []sample, f func(sample) int64) int64 {
		v := sliceOf(ss, f)
		slices.Sort(v)
		return v[len(v)/2]
	}
	var errs []error
	check := func(name string, f func(sample) int64, slack int64, factor float64) {
		before, after := peak(mid, f), median(last, f)
		limit := int64(float64(before)*factor) + slack
		verdict := "flat"
		if after > limit {
			verdict = "GROWING"
			errs = append(errs, fmt.Errorf("%s grew: %d then %d (limit %d)", name, before, after, limit))
		}
		fmt.Printf("soak: %-10s middle peak %d, last median %d: %s\n", name, before, after, verdict)
	}
	check("rss_kib", func(s sample) int64 { return s.rssKiB }, 8<<10, 1.2)
	check("goroutines", func(s sample) int64 { return s.goroutines }, 20, 1.2)
	check("open_files", func(s sample) int64 { return s.openFiles }, 16, 1.2)
	check("data_bytes", func(s sample) int64 { return s.dataBytes }, 256<<10, 1.5)
	if failures > ops/1000 {
		errs = append(errs, fmt.Errorf("%d of %d operations failed", failures, ops))
	}
	return errors.Join(errs...)
}

func sliceOf(ss []sample, f func(sample) int64) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// goroutines reads go_goroutines from the server's metrics.
func goroutines(metricsURL string) int64 {
	if metricsURL == "" {
		return -1
	}
	resp, err := client.Get(metricsURL)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	return -1
}

func openFiles(pid int) int64 {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return int64(len(entries))
}

func dirSize(dir string) int64 {
	if dir == "" {
		return -1
	}
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
