package handlers

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"
)

// The properties `redocly lint` checks that matter to readers of the
// document (CI runs the linter too; this keeps `go test` alone honest):
// a server, a license with a URL, and no component that nothing uses
// except those the linter's ignore file names, with its reason.
func TestOpenAPILintProperties(t *testing.T) {
	doc := loadOpenAPI(t)
	require.NotEmpty(t, doc.Servers, "servers")
	require.NotNil(t, doc.Info.License)
	assert.NotEmpty(t, doc.Info.License.URL, "license url")

	b, err := os.ReadFile("../.redocly.lint-ignore.yaml")
	require.NoError(t, err)
	var ignore map[string]map[string][]string
	require.NoError(t, yaml.Unmarshal(b, &ignore))
	allowed := map[string]bool{}
	for _, ptr := range ignore["handlers/openapi.yaml"]["no-unused-components"] {
		allowed[strings.TrimPrefix(ptr, "#/")] = true
	}

	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$ref: '#/([^']+)'`).FindAllStringSubmatch(string(openapiYAML), -1) {
		used[m[1]] = true
	}
	var components []string
	for name := range doc.Components.Schemas {
		components = append(components, "components/schemas/"+name)
	}
	for name := range doc.Components.Responses {
		components = append(components, "components/responses/"+name)
	}
	for name := range doc.Components.Headers {
		components = append(components, "components/headers/"+name)
	}
	for name := range doc.Components.Parameters {
		components = append(components, "components/parameters/"+name)
	}
	for name := range doc.Components.RequestBodies {
		components = append(components, "components/requestBodies/"+name)
	}
	for name := range doc.Components.Examples {
		components = append(components, "components/examples/"+name)
	}
	require.NotEmpty(t, components)
	for _, c := range components {
		assert.True(t, used[c] || allowed[c], "%s is never used", c)
		assert.False(t, used[c] && allowed[c], "%s is used: drop it from the ignore file", c)
	}
}
