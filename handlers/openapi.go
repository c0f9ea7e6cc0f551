package handlers

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v4"

	"simpleapi/respond"
)

// openapiYAML is the OpenAPI 3.0 document of the service: every route,
// parameter, body, response and error. The route suites check
// every response they provoke against it, and that it lists exactly the
// routes the router serves.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPIYAML returns the OpenAPI document as written (YAML).
func OpenAPIYAML() []byte { return bytes.Clone(openapiYAML) }

// openapiJSON is the document as compact JSON with sorted keys, converted
// once.
var openapiJSON = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(openapiYAML) })

// OpenAPIJSON returns the OpenAPI document as compact JSON with sorted
// object keys, the form GET /api/v1/openapi.json serves.
func OpenAPIJSON() ([]byte, error) {
	b, err := openapiJSON()
	return bytes.Clone(b), err
}

// yamlToJSON converts a YAML document to compact JSON; encoding/json sorts
// the keys of maps.
func yamlToJSON(data []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	v, err := jsonValue(v)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(v)
}

// jsonValue turns a decoded YAML value into one encoding/json writes as
// the same JSON value: mapping keys become strings. Values JSON cannot
// hold (timestamps, binary) are refused rather than silently changed.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string, int, int64, uint64, float64:
		return v, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = jsonValue(e); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("mapping key %v (%T) is not a string: quote it", k, k)
			}
			var err error
			if out[key], err = jsonValue(e); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("value %v (%T) has no JSON form: quote it", v, v)
	}
}

// handleOpenAPIYAML serves the OpenAPI document as written.
func handleOpenAPIYAML(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml; charset=utf-8", openapiYAML)
}

// handleOpenAPIJSON serves the OpenAPI document as JSON.
func handleOpenAPIJSON(c *gin.Context) {
	b, err := openapiJSON()
	if err != nil {
		respond.Error(c, err) // logged; answered as a generic 500
		return
	}
	c.Data(http.StatusOK, respond.JSONContentType, b)
}
