package app

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/config"
)

func TestURLs(t *testing.T) {
	for _, tc := range []struct {
		addr             string
		tls              bool
		local, clickable string
	}{
		{"0.0.0.0:5000", false, "http://127.0.0.1:5000", "http://localhost:5000"},
		{"[::]:5000", false, "http://127.0.0.1:5000", "http://localhost:5000"},
		{"127.0.0.1:8080", true, "https://127.0.0.1:8080", "https://127.0.0.1:8080"},
		{"[::1]:443", true, "https://[::1]:443", "https://[::1]:443"},
		{"192.0.2.7:5000", false, "http://192.0.2.7:5000", "http://192.0.2.7:5000"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		assert.NoError(t, err)
		assert.Equal(t, tc.local, localURL(addr, tc.tls), tc.addr)
		assert.Equal(t, tc.clickable, clickableURL(addr, tc.tls), tc.addr)
	}
}

// Each process records its own address; a record whose process is gone
// counts for nothing and goes at the next server's start.
func TestServerURLFiles(t *testing.T) {
	dir := t.TempDir()
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	stale := serverURLPath(dir, gone.Process.Pid)
	require.NoError(t, os.WriteFile(stale, []byte("http://127.0.0.1:1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".server_url.notapid"), nil, 0o600))

	live, err := liveServerURLs(dir)
	require.NoError(t, err)
	assert.Empty(t, live)
	require.NoError(t, writeServerURL(dir, "http://127.0.0.1:5000"))
	assert.NoFileExists(t, stale)
	live, err = liveServerURLs(dir)
	require.NoError(t, err)
	assert.Equal(t, map[int]string{os.Getpid(): "http://127.0.0.1:5000"}, live)
	removeServerURL(dir)
	live, err = liveServerURLs(dir)
	require.NoError(t, err)
	assert.Empty(t, live)

	live, err = liveServerURLs(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	assert.Empty(t, live, "a data directory not made yet records nothing")
}

func TestCheckedServer(t *testing.T) {
	cfg := config.Config{APIHost: "0.0.0.0", APIPort: 5000, DataDir: "/data"}
	one := map[int]string{7: "https://127.0.0.1:8443"}
	two := map[int]string{7: "http://127.0.0.1:5002", 8: "http://127.0.0.1:5001"}
	for _, tc := range []struct {
		name         string
		cfg          config.Config
		recorded     map[int]string
		addressGiven bool
		want         string
	}{
		{"none recorded", cfg, nil, false, "http://127.0.0.1:5000"},
		{"none recorded, a host name", config.Config{APIHost: "localhost", APIPort: 80, TLSCertFile: "c.pem"}, nil, false, "https://localhost:80"},
		{"the one recorded, whatever API_PORT says", cfg, one, false, "https://127.0.0.1:8443"},
		{"--api-port names the recorded one", config.Config{APIHost: "0.0.0.0", APIPort: 5001}, two, true, "http://127.0.0.1:5001"},
		{"--api-port names another", config.Config{APIHost: "127.0.0.1", APIPort: 6000}, one, true, "http://127.0.0.1:6000"},
	} {
		got, err := checkedServer(tc.cfg, tc.recorded, tc.addressGiven)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
	_, err := checkedServer(cfg, two, false)
	assert.EqualError(t, err, `healthcheck: 2 servers run on data directory "/data" `+
		`(http://127.0.0.1:5001, http://127.0.0.1:5002): choose one with --api-port`)
	assert.Equal(t, 2, exitCode(err, io.Discard))
}
