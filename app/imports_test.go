package app

import (
	"os/exec"
	"strings"
	"testing"
)

// Only the command reads the configuration: the packages below it take
// plain option values that app translates from config, so none of them,
// nor any of their tests, depends on simpleapi/config.
func TestNothingBelowTheCommandReadsConfig(t *testing.T) {
	below := []string{"simpleapi/auth/...", "simpleapi/store/...", "simpleapi/middleware/...",
		"simpleapi/handlers/...", "simpleapi/respond/...", "simpleapi/metrics/..."}
	args := append([]string{"list", "-test", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}, below...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < len(below) {
		t.Fatalf("go list listed %d packages:\n%s", len(lines), out)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, dep := range strings.Fields(deps) {
			if dep == "simpleapi/config" {
				t.Errorf("%s depends on simpleapi/config", pkg)
			}
		}
	}
}
