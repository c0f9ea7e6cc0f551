package handlers

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Packages import downward only: handlers gets its stores and settings
// from the app package, and nothing below handlers imports it.
func TestImportsRunDownward(t *testing.T) {
	imports := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	for _, banned := range []string{"simpleapi/config", "simpleapi/store/jsonfile", "simpleapi/store/memory", "simpleapi/app"} {
		assert.NotContains(t, imports("simpleapi/handlers"), banned)
	}
	for _, pkg := range []string{"simpleapi/middleware", "simpleapi/respond", "simpleapi/auth", "simpleapi/store"} {
		for _, imp := range imports(pkg) {
			assert.False(t, strings.HasPrefix(imp, "simpleapi/handlers") || imp == "simpleapi/app", "%s imports %s", pkg, imp)
		}
	}
}
