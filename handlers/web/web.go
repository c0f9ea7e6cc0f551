// Package web serves the account page: a small HTML, CSS and JavaScript
// client of the JSON API, embedded in the binary. It has no build step and
// loads nothing from elsewhere.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
)

// CSP is the Content-Security-Policy of the page and its files: scripts
// and styles only from these files (no inline code), no plugins, no
// framing, forms only to this origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; " +
	"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

//go:embed static
var files embed.FS

// Asset paths, as the page refers to them.
const (
	scriptPath = "/assets/app.js"
	qrPath     = "/assets/qr.js"
	stylePath  = "/assets/app.css"
)

// Page serves the page and its files.
type Page struct {
	html []byte
}

// New renders the page once. sessions says whether the service runs a
// session mode; without sessions the page only says so.
func New(sessions bool) (*Page, error) {
	t, err := template.ParseFS(files, "static/index.html")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, struct{ Sessions bool }{sessions}); err != nil {
		return nil, err
	}
	return &Page{html: buf.Bytes()}, nil
}

// Register adds the page's routes (GET and HEAD) to r.
func (p *Page) Register(r gin.IRoutes) {
	for path, h := range map[string]gin.HandlerFunc{
		"/":        p.serveHTML,
		"/account": p.serveHTML,
		scriptPath: serveFile("static/app.js", "text/javascript; charset=utf-8"),
		qrPath:     serveFile("static/qr.js", "text/javascript; charset=utf-8"),
		stylePath:  serveFile("static/app.css", "text/css; charset=utf-8"),
	} {
		r.GET(path, h)
		r.HEAD(path, h)
	}
}

func (p *Page) serveHTML(c *gin.Context) {
	c.Header("Content-Security-Policy", CSP)
	// The page holds no user data (the script fetches it), but a fresh
	// copy picks up a new version of the script at once.
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", p.html)
}

func serveFile(name, contentType string) gin.HandlerFunc {
	body, err := files.ReadFile(name)
	if err != nil {
		panic(err) // the file is embedded at build time; a missing one is a build mistake
	}
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", CSP)
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, contentType, body)
	}
}
