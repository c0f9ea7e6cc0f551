package tests

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/handlers"
)

// The README's route table lists, for every operation of the OpenAPI
// document, exactly the statuses the document lists (405 and unknown
// paths, which no operation lists, are described under the table).
func TestReadmeRouteTableMatchesOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `(GET|POST|PUT|DELETE) (/[^`]*)` \\|[^|]*\\|([^|]*)\\|([^|]*)\\|$")
	status := regexp.MustCompile(`\b[1-5]\d\d\b`)
	param := regexp.MustCompile(`:([a-z_]+)`)
	readme := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		op := m[1] + " " + param.ReplaceAllString(m[2], "{$1}")
		codes := status.FindAllString(m[3]+" "+m[4], -1)
		slices.Sort(codes)
		readme[op] = slices.Compact(codes)
	}
	require.NotEmpty(t, readme)

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(handlers.OpenAPIYAML())
	require.NoError(t, err)
	documented := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var codes []string
			for code := range op.Responses.Map() {
				codes = append(codes, code)
			}
			slices.Sort(codes)
			documented[method+" "+path] = codes
		}
	}
	for op, codes := range documented {
		assert.Equal(t, codes, readme[op], "README row of %s", op)
	}
	for op := range readme {
		_, ok := documented[op]
		assert.True(t, ok, "README lists %s, which the document does not", op)
	}
	assert.True(t, strings.Contains(string(b), "405 with `Allow`"))
}
