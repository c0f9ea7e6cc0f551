package tests

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/handlers"
)

// openapiChecker holds what validateResponse needs, built once from the
// document the service embeds.
type openapiChecker struct {
	doc    *openapi3.T
	router routers.Router
	// unrouted describes the answers to a request no operation of the
	// document matches (an unknown path, or a method the path does not
	// list): the standard errors only (see handlers/openapi.yaml).
	unrouted *openapi3.Operation
}

var loadOpenAPIChecker = sync.OnceValues(func() (*openapiChecker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(handlers.OpenAPIYAML())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	// The document's server is an example address; the suites' requests
	// may name any host.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	unrouted := openapi3.NewOperation()
	unrouted.Responses = openapi3.NewResponses()
	for status, name := range map[string]string{
		"401": "Unauthorized",
		"403": "Forbidden",
		"404": "NotFound",
		"405": "MethodNotAllowed",
		"413": "RequestBodyTooLarge",
		"500": "InternalServerError",
		"503": "ServiceUnavailable",
	} {
		ref := doc.Components.Responses[name]
		if ref == nil || ref.Value == nil {
			return nil, fmt.Errorf("openapi.yaml: components/responses/%s is missing", name)
		}
		unrouted.Responses.Set(status, ref)
	}
	return &openapiChecker{doc: doc, router: router, unrouted: unrouted}, nil
})

// validateResponse checks one answer of the service against the OpenAPI
// document: its status must be one the operation lists, the headers that
// response declares must be there and match, and the body must match the
// schema. A request that no operation matches (unknown path, unlisted
// method) may only get one of the standard errors; a 405 must carry Allow.
// HEAD answers have no body and are skipped, as are CORS preflights.
// It reports with t.Errorf, so it is safe to call from any goroutine.
func validateResponse(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	if req.Method == http.MethodHead {
		return
	}
	checker, err := loadOpenAPIChecker()
	if err != nil {
		t.Errorf("loading the OpenAPI document: %v", err)
		return
	}
	// Every route answers with and without one trailing slash;
	// the document lists each path once, without it.
	r := req.Clone(req.Context())
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimSuffix(p, "/")
		r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
	}
	route, params, err := checker.router.FindRoute(r)
	if err != nil {
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			t.Errorf("OpenAPI: %s %s: finding the route: %v", req.Method, req.URL.Path, err)
			return
		}
		if req.Method == http.MethodOptions && rec.Code == http.StatusNoContent && rec.Body.Len() == 0 {
			return // CORS preflight
		}
		route = &routers.Route{Spec: checker.doc, Path: r.URL.Path, Method: r.Method, Operation: checker.unrouted}
		params = nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				ExcludeRequestBody: true,
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			},
		},
		Status:  rec.Code,
		Header:  rec.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		what := route.Method + " " + route.Path
		if route.Operation == checker.unrouted {
			what = "no operation (unknown path or method)"
		} else if route.Operation.OperationID != "" {
			what += " (" + route.Operation.OperationID + ")"
		}
		t.Errorf("OpenAPI: %s %s → %d %s\n  %s\n  does not match the document: %v",
			req.Method, req.URL.RequestURI(), rec.Code, rec.Body.String(), what, err)
	}
}

// ginParam is a Gin path parameter (":id", "*rest").
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// documentedOperations lists the document's operations as "METHOD /path/{param}".
func documentedOperations(t *testing.T) []string {
	t.Helper()
	checker, err := loadOpenAPIChecker()
	require.NoError(t, err)
	var out []string
	for path, item := range checker.doc.Paths.Map() {
		for method := range item.Operations() {
			if method != http.MethodHead {
				out = append(out, method+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := startServer(t, t.TempDir(), "AUTH_TYPE", "session_db_auth")
	var served, heads []string
	for _, route := range s.app.Routes() {
		method, path, _ := strings.Cut(route, " ")
		path = ginParam.ReplaceAllString(path, "{$1}")
		if method == http.MethodHead {
			heads = append(heads, path)
			continue
		}
		served = append(served, method+" "+path)
	}
	slices.Sort(served)
	documented := documentedOperations(t)

	var undocumented, unserved []string
	for _, r := range served {
		if !slices.Contains(documented, r) {
			undocumented = append(undocumented, r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			unserved = append(unserved, d)
		}
	}
	assert.Empty(t, undocumented, "routes the router serves that openapi.yaml does not document")
	assert.Empty(t, unserved, "operations openapi.yaml documents that the router does not serve")
	assert.Equal(t, documented, served)

	// HEAD is implied by GET in the document: the router must keep its
	// side of that.
	var gets []string
	for _, r := range served {
		if path, ok := strings.CutPrefix(r, "GET "); ok {
			gets = append(gets, path)
		}
	}
	slices.Sort(heads)
	assert.Equal(t, gets, heads, "HEAD routes must be exactly the GET routes")
}

func TestOpenAPIDocumentServed(t *testing.T) {
	asJSON, err := handlers.OpenAPIJSON()
	require.NoError(t, err)
	for _, mode := range []string{"basic_auth", "session_db_auth"} {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, "AUTH_TYPE", mode)
			for _, tc := range []struct{ path, contentType, body string }{
				{"/api/v1/openapi.yaml", "application/yaml; charset=utf-8", string(handlers.OpenAPIYAML())},
				{"/api/v1/openapi.json", "application/json", string(asJSON)},
			} {
				for _, path := range []string{tc.path, tc.path + "/"} {
					// Public: no credentials needed.
					rec := s.do("GET", path, "")
					require.Equal(t, 200, rec.Code, "%s: %s", path, rec.Body.String())
					assert.Equal(t, tc.contentType, rec.Header().Get("Content-Type"), path)
					assert.True(t, rec.Body.String() == tc.body, "%s does not serve the embedded document", path)
					head := s.do("HEAD", path, "")
					assert.Equal(t, 200, head.Code, path)
				}
				doc, err := openapi3.NewLoader().LoadFromData(s.do("GET", tc.path, "").Body.Bytes())
				require.NoError(t, err, tc.path)
				require.NoError(t, doc.Validate(t.Context()), tc.path)
			}
		})
	}
}

// kin-openapi checks responses in the tests only; the production binary
// does not link it.
func TestOpenAPILibraryNotInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "simpleapi").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "simpleapi/handlers")
	assert.NotContains(t, string(out), "github.com/getkin/kin-openapi")
}

// The checker itself: it must fail answers that break the document.
func TestValidateResponseCatchesDeviations(t *testing.T) {
	user := `{"created_at":"2026-01-02T03:04:05","email":"a@b.c","first_name":null,` +
		`"id":"9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21","last_name":null,"role":"user","updated_at":"2026-01-02T03:04:05"}`
	cases := []struct {
		name, method, path string
		status             int
		headers            map[string]string
		body               string
		ok                 bool
	}{
		{"user", "GET", "/api/v1/users/me", 200, map[string]string{"Cache-Control": "no-store"}, user, true},
		{"user, trailing slash", "GET", "/api/v1/users/me/", 200, map[string]string{"Cache-Control": "no-store"}, user, true},
		{"user without Cache-Control", "GET", "/api/v1/users/me", 200, nil, user, false},
		{"user with an extra key", "GET", "/api/v1/users/me", 200, map[string]string{"Cache-Control": "no-store"},
			strings.Replace(user, `"role"`, `"password":"x","role"`, 1), false},
		{"user with a zoned time", "GET", "/api/v1/users/me", 200, map[string]string{"Cache-Control": "no-store"},
			strings.Replace(user, `03:04:05"`, `03:04:05Z"`, 1), false},
		{"user with a bad role", "GET", "/api/v1/users/me", 200, map[string]string{"Cache-Control": "no-store"},
			strings.Replace(user, `"user"`, `"root"`, 1), false},
		{"undocumented status", "GET", "/api/v1/users/me", 409, nil, `{"error":"last admin"}`, false},
		{"documented error", "DELETE", "/api/v1/users/me", 409, nil, `{"error":"last admin"}`, true},
		{"wrong error message", "DELETE", "/api/v1/users/me", 409, nil, `{"error":"conflict"}`, false},
		{"error with detail", "GET", "/api/v1/stats", 500, nil, `{"detail":"x","error":"Internal server error"}`, false},
		{"text body", "GET", "/api/v1/status", 200, map[string]string{"Content-Type": "text/plain"}, `OK`, false},
		{"429 without Retry-After", "POST", "/api/v1/auth_session/login", 429, nil, `{"error":"Too many requests"}`, false},
		{"429 with Retry-After", "POST", "/api/v1/auth_session/login", 429, map[string]string{"Retry-After": "2"},
			`{"error":"Too many requests"}`, true},
		{"login without cookie", "POST", "/api/v1/auth_session/login", 200, map[string]string{"Cache-Control": "no-store"}, user, false},
		{"login with cookie", "POST", "/api/v1/auth_session/login", 200, map[string]string{"Cache-Control": "no-store",
			"Set-Cookie": "_my_session_id=abc; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"}, user, true},
		{"login cookie with Domain", "POST", "/api/v1/auth_session/login", 200, map[string]string{"Cache-Control": "no-store",
			"Set-Cookie": "_my_session_id=abc; Path=/; Domain=example.com; HttpOnly; SameSite=Lax"}, user, false},
		{"unknown path, 404", "GET", "/api/v1/nope", 404, nil, `{"error":"Not found"}`, true},
		{"unknown path, 200", "GET", "/api/v1/nope", 200, nil, `{}`, false},
		{"405 with Allow", "PATCH", "/api/v1/users", 405, map[string]string{"Allow": "GET, HEAD, POST"}, `{"error":"Method not allowed"}`, true},
		{"405 without Allow", "PATCH", "/api/v1/users", 405, nil, `{"error":"Method not allowed"}`, false},
		{"401 before 405", "PATCH", "/api/v1/users", 401, nil, `{"error":"Unauthorized"}`, true},
		{"preflight", "OPTIONS", "/api/v1/users", 204, nil, ``, true},
		{"HEAD is skipped", "HEAD", "/api/v1/users", 200, nil, ``, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/json; charset=utf-8")
			for k, v := range tc.headers {
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tc.status)
			rec.WriteString(tc.body)
			rt := &recordingTB{TB: t}
			validateResponse(rt, httptest.NewRequest(tc.method, tc.path, nil), rec)
			if tc.ok {
				assert.Empty(t, rt.errors)
			} else {
				assert.NotEmpty(t, rt.errors, "a deviation passed")
			}
		})
	}
}

// validateResponse may be called from many goroutines at once.
func TestValidateResponseConcurrently(t *testing.T) {
	user := `{"created_at":"2026-01-02T03:04:05","email":"a@b.c","first_name":null,` +
		`"id":"9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21","last_name":null,"role":"user","updated_at":null}`
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				rec := httptest.NewRecorder()
				rec.Header().Set("Content-Type", "application/json; charset=utf-8")
				rec.Header().Set("Cache-Control", "no-store")
				rec.Header().Set("Set-Cookie", "_my_session_id=abc; Path=/; HttpOnly; SameSite=Lax")
				rec.WriteHeader(200)
				rec.WriteString(user)
				validateResponse(t, httptest.NewRequest("POST", "/api/v1/auth_session/login", nil), rec)
			}
		})
	}
	wg.Wait()
}

// recordingTB records the errors reported to it instead of failing.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
