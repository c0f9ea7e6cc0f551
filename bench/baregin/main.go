// Command baregin is the yardstick of bench/http.sh: a bare Gin handler
// answering {"status":"OK"}, the framework's own limit on this machine.
//
// With -replay it is a second yardstick: it fetches one answer from each
// URL given at start (sending the -header lines given) and then answers
// GET on each URL's path with the same status, headers and body, doing
// none of the service's work. Against it, a target's throughput shows
// what its own code costs, apart from the bytes its answers and requests
// must carry.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// listFlag collects a repeated flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	var replays, headers listFlag
	flag.Var(&replays, "replay", "URL of an answer to replay instead of the bare handler (repeatable)")
	flag.Var(&headers, "header", `request header "Name: value" for -replay (repeatable)`)
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if len(replays) == 0 {
		r.GET("/api/v1/status", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "OK"}) })
	}
	for _, u := range replays {
		path, h, err := replayHandler(u, headers)
		if err != nil {
			log.Fatal(err)
		}
		r.GET(path, h)
	}
	log.Fatal(http.ListenAndServe(*addr, r))
}

// replayHandler fetches rawURL once and returns its path and a handler
// that answers with what came back. Date and Content-Length are left to
// net/http, which writes them for every answer.
func replayHandler(rawURL string, headers []string) (string, gin.HandlerFunc, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return "", nil, err
	}
	for _, line := range headers {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return "", nil, fmt.Errorf("-header %q: want \"Name: value\"", line)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	status, answer := resp.StatusCode, resp.Header.Clone()
	answer.Del("Date")
	answer.Del("Content-Length")
	return u.Path, func(c *gin.Context) {
		h := c.Writer.Header()
		for k, v := range answer {
			h[k] = v // shared, never changed: net/http copies the map it writes
		}
		c.Status(status)
		_, _ = c.Writer.Write(body)
	}, nil
}
