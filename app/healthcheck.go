package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// healthcheck asks the server for /readyz: it passes while the server
// answers and its store accepts writes. It is the container's
// HEALTHCHECK. The server is the one that recorded its address in
// DATA_DIR; without one, the one at API_HOST and API_PORT.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	base, err := readServerURL(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	if base == "" {
		addr := &net.TCPAddr{IP: net.ParseIP(cfg.APIHost), Port: cfg.APIPort}
		base = localURL(addr, cfg.TLSCertFile != "")
		if addr.IP == nil { // a host name
			base = scheme(cfg.TLSCertFile != "") + "://" + net.JoinHostPort(cfg.APIHost, strconv.Itoa(cfg.APIPort))
		}
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
