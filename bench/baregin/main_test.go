package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The replay yardstick answers each path with the status, headers and
// body of the answer it fetched, which it fetched with the headers it was
// given.
func TestReplayHandlerRepeatsTheAnswer(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/status" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"OK"}`)
			return
		}
		if r.URL.Path != "/api/v1/users/me" || r.Header.Get("Cookie") != "s=abc" {
			http.Error(w, "wrong request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Cookie")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"1"}`)
	}))
	defer origin.Close()

	path, h, err := replayHandler(origin.URL+"/api/v1/users/me", []string{"Cookie: s=abc"})
	require.NoError(t, err)
	assert.Equal(t, "/api/v1/users/me", path)
	r := gin.New()
	r.GET(path, h)
	statusPath, statusHandler, err := replayHandler(origin.URL+"/api/v1/status", []string{"Cookie: s=abc"})
	require.NoError(t, err)
	r.GET(statusPath, statusHandler)
	twin := httptest.NewServer(r)
	defer twin.Close()

	for range 2 { // the second answer is the same as the first
		resp, body := get(t, twin.URL+path)
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Equal(t, `{"id":"1"}`, body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		assert.Equal(t, []string{"Origin", "Cookie"}, resp.Header.Values("Vary"))
		assert.Equal(t, "10", resp.Header.Get("Content-Length"))
		assert.Len(t, resp.Header.Values("Date"), 1)
	}
	resp, body := get(t, twin.URL+"/api/v1/status")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, `{"status":"OK"}`, body)
	assert.Empty(t, resp.Header.Values("X-Frame-Options"))
}

// get returns the answer to a GET of url and its body.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestReplayHandlerRefusesABadHeaderFlag(t *testing.T) {
	_, _, err := replayHandler("http://127.0.0.1:1/x", []string{"no colon"})
	assert.ErrorContains(t, err, `want "Name: value"`)
}
