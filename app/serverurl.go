package app

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// serverURLFile, in DATA_DIR, holds the address of the server that runs
// on that directory, written once it listens and removed when it stops.
// The health check reads it, so it reaches the server however its port
// was set (flag, environment or default): a container's HEALTHCHECK
// cannot see the flags the container was started with.
const serverURLFile = ".server_url"

// localURL is the address from which a process on the same machine
// reaches a listener: a wildcard address (0.0.0.0, ::) as 127.0.0.1. Go's
// wildcard listeners take IPv4 too, while ::1 may not exist (containers
// often run with IPv6 disabled).
func localURL(addr net.Addr, tls bool) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme(tls) + "://" + net.JoinHostPort(host, port)
}

// clickableURL is the address a person can open: a wildcard listener is
// shown as localhost.
func clickableURL(addr net.Addr, tls bool) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme(tls) + "://" + net.JoinHostPort(host, port)
}

func scheme(tls bool) string {
	if tls {
		return "https"
	}
	return "http"
}

// writeServerURL records url in dataDir; removeServerURL undoes it.
func writeServerURL(dataDir, url string) error {
	return os.WriteFile(filepath.Join(dataDir, serverURLFile), []byte(url+"\n"), 0o600)
}

func removeServerURL(dataDir string) {
	_ = os.Remove(filepath.Join(dataDir, serverURLFile))
}

// readServerURL returns the recorded address, or "" when no server has
// recorded one.
func readServerURL(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, serverURLFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
