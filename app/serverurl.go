package app

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// serverURLPrefix names, in DATA_DIR, the file in which each running server
// records its address: .server_url.<pid>, written once it listens and
// removed when it stops. The health check reads them, so it reaches the
// server however its port was set (flag, environment or default): a
// container's HEALTHCHECK cannot see the flags the container was started
// with. One file per process, so that servers sharing a DATA_DIR (users and
// sessions kept elsewhere) never overwrite each other's.
const serverURLPrefix = ".server_url."

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

func serverURLPath(dataDir string, pid int) string {
	return filepath.Join(dataDir, serverURLPrefix+strconv.Itoa(pid))
}

// writeServerURL records this process's url in dataDir, and removes what
// servers that did not stop cleanly left there. removeServerURL undoes it.
func writeServerURL(dataDir, url string) error {
	recorded, err := recordedServers(dataDir)
	if err != nil {
		return err
	}
	for pid := range recorded {
		if !alive(pid) {
			_ = os.Remove(serverURLPath(dataDir, pid))
		}
	}
	return os.WriteFile(serverURLPath(dataDir, os.Getpid()), []byte(url+"\n"), 0o600)
}

func removeServerURL(dataDir string) {
	_ = os.Remove(serverURLPath(dataDir, os.Getpid()))
}

// liveServerURLs returns the addresses recorded in dataDir by processes
// that still run, by pid; none when dataDir does not exist.
func liveServerURLs(dataDir string) (map[int]string, error) {
	recorded, err := recordedServers(dataDir)
	if err != nil {
		return nil, err
	}
	for pid := range recorded {
		if !alive(pid) {
			delete(recorded, pid)
		}
	}
	return recorded, nil
}

// recordedServers reads every address file in dataDir, by pid.
func recordedServers(dataDir string) (map[int]string, error) {
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), serverURLPrefix))
		if !strings.HasPrefix(e.Name(), serverURLPrefix) || err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dataDir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // its server stopped meanwhile
		}
		if err != nil {
			return nil, err
		}
		out[pid] = strings.TrimSpace(string(b))
	}
	return out, nil
}

// alive reports whether the process pid exists. A server that crashed
// leaves its file; should another process take its pid, the file counts
// as live until the next server start removes it.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
