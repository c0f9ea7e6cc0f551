package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadOpenAPI parses and validates the embedded document with kin-openapi,
// which only the tests link.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIYAML())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context))
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	assert.Equal(t, "3.0.3", doc.OpenAPI)

	// Every operation has an id, a summary and tags; ids are unique.
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			assert.NotEmpty(t, op.OperationID, where)
			assert.NotEmpty(t, op.Summary, where)
			assert.NotEmpty(t, op.Tags, where)
			assert.NotContains(t, ids, op.OperationID, "operationId of %s also used by %s", where, ids[op.OperationID])
			ids[op.OperationID] = where
			assert.NotEqual(t, http.MethodHead, method, "HEAD is implied by GET: %s", where)
		}
	}
}

func TestOpenAPIJSONIsTheSameDocument(t *testing.T) {
	b, err := OpenAPIJSON()
	require.NoError(t, err)

	// Compact, and with sorted keys: encoding it again changes nothing.
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	again, err := json.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, string(again), string(b))
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, b))
	assert.Equal(t, compact.String(), string(b))

	// The JSON form loads to the same document as the YAML form.
	fromJSON, err := openapi3.NewLoader().LoadFromData(b)
	require.NoError(t, err)
	require.NoError(t, fromJSON.Validate(t.Context()))
	fromYAML := loadOpenAPI(t)
	wantJSON, err := json.Marshal(fromYAML)
	require.NoError(t, err)
	gotJSON, err := json.Marshal(fromJSON)
	require.NoError(t, err)
	assert.JSONEq(t, string(wantJSON), string(gotJSON))
}

func TestOpenAPIYAMLIsACopy(t *testing.T) {
	a := OpenAPIYAML()
	a[0] = '#'
	assert.NotEqual(t, a[0], OpenAPIYAML()[0])
}

func TestHandleOpenAPI(t *testing.T) {
	want, err := OpenAPIJSON()
	require.NoError(t, err)
	for _, tc := range []struct {
		path, contentType string
		handle            gin.HandlerFunc
		body              []byte
	}{
		{"/api/v1/openapi.yaml", "application/yaml; charset=utf-8", handleOpenAPIYAML, OpenAPIYAML()},
		{"/api/v1/openapi.json", "application/json", handleOpenAPIJSON, want},
	} {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest(http.MethodGet, tc.path, nil)
		tc.handle(c)

		assert.Equal(t, http.StatusOK, rec.Code, tc.path)
		assert.Equal(t, tc.contentType, rec.Header().Get("Content-Type"), tc.path)
		assert.Equal(t, string(tc.body), rec.Body.String(), tc.path)
		doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
		require.NoError(t, err, tc.path)
		assert.NotNil(t, doc.Paths.Value("/api/v1/openapi.json"), tc.path)
	}
}

func TestYAMLToJSONRefusesWhatJSONCannotHold(t *testing.T) {
	_, err := yamlToJSON([]byte("responses:\n  200: {}\n"))
	assert.Error(t, err, "an integer key")
	_, err = yamlToJSON([]byte("example: 2026-01-02T03:04:05Z\n"))
	assert.Error(t, err, "an unquoted timestamp")
	_, err = yamlToJSON([]byte("maximum: .inf\n"))
	assert.Error(t, err, "infinity")
	b, err := yamlToJSON([]byte("b: [1, 2.5, true, null, x]\na: '200'\n"))
	require.NoError(t, err)
	assert.Equal(t, `{"a":"200","b":[1,2.5,true,null,"x"]}`, string(b))
}
