package app

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
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
