package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"simpleapi/config"
)

const healthcheckAbout = `
Asks a server for /readyz and exits 0 when it answers 200: the server answers
and its stores accept writes. It is the image's HEALTHCHECK.

The server asked is the one running servers recorded in DATA_DIR, whatever
port a flag or variable gave it. With several recorded there, --api-port picks
one; with none, it is the one at API_HOST:API_PORT.
`

// healthcheck asks the server for /readyz: it passes while the server
// answers and its store accepts writes. It is the container's
// HEALTHCHECK.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newCommandFlags("healthcheck", "healthcheck [--api-port PORT] [--data-dir DIR]", healthcheckAbout)
	f.takeSettings("API_HOST", "API_PORT", "DATA_DIR")
	if done, err := f.parse(args, stdout); done {
		return err
	}
	cfg, err := f.settings.Load(getenv)
	if err != nil {
		return err
	}
	recorded, err := liveServerURLs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	base, err := checkedServer(cfg, recorded, f.given("api-port") || f.given("api-host"))
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 3 * time.Second}
	if strings.HasPrefix(base, "https:") {
		// The check reaches our own process; the certificate may name a
		// public host rather than the loopback address.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	}
	url := base + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "OK")
	return nil
}

// checkedServer picks the server to ask among those recorded in DATA_DIR
// (by pid). With an address on the command line, it is the recorded server
// on API_PORT (its record says whether it speaks TLS), else API_HOST:API_PORT.
// Without one, it is the one server recorded; with none, API_HOST:API_PORT;
// with several, the person must choose.
func checkedServer(cfg config.Config, recorded map[int]string, addressGiven bool) (string, error) {
	var urls []string
	for _, u := range recorded {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	if addressGiven {
		for _, u := range urls {
			if parsed, err := url.Parse(u); err == nil && parsed.Port() == strconv.Itoa(cfg.APIPort) {
				return u, nil
			}
		}
		urls = nil
	}
	switch len(urls) {
	case 0:
		addr := &net.TCPAddr{IP: net.ParseIP(cfg.APIHost), Port: cfg.APIPort}
		if addr.IP == nil { // a host name
			return scheme(cfg.TLSCertFile != "") + "://" + net.JoinHostPort(cfg.APIHost, strconv.Itoa(cfg.APIPort)), nil
		}
		return localURL(addr, cfg.TLSCertFile != ""), nil
	case 1:
		return urls[0], nil
	default:
		return "", usageError{fmt.Sprintf("healthcheck: %d servers run on data directory %q (%s): choose one with --api-port",
			len(urls), cfg.DataDir, strings.Join(urls, ", "))}
	}
}
