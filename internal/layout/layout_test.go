package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tug-dev/tug"

// forbidden maps a package (and its subpackages) to the project packages it
// must not depend on, directly or indirectly.
var forbidden = map[string][]string{
	"manifest":   {"state", "reconciler", "nodeagent", "proxy", "gitsync", "api", "cmd"},
	"state":      {"reconciler", "nodeagent", "proxy", "gitsync", "api", "cmd"},
	"gitsync":    {"state", "reconciler", "nodeagent", "proxy", "api", "cmd"},
	"reconciler": {"state", "nodeagent", "proxy", "gitsync", "api", "cmd"},
	"nodeagent":  {"state", "reconciler", "proxy", "gitsync", "api", "cmd"},
	"proxy":      {"state", "reconciler", "nodeagent", "gitsync", "api", "cmd"},
	"dns":        {"state", "reconciler", "nodeagent", "proxy", "gitsync", "api", "cmd"},
	"api":        {"reconciler", "nodeagent", "proxy", "gitsync", "cmd"},
	"health":     {"state", "reconciler", "nodeagent", "proxy", "gitsync", "api", "cmd"},
}

func TestDependencyRules(t *testing.T) {
	for pkg, banned := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+"/"+pkg+"/...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(dep, module+"/")
			if !ok {
				continue
			}
			for _, b := range banned {
				if rel == b || strings.HasPrefix(rel, b+"/") {
					t.Errorf("%s depends on %s; see docs/architecture.md for the allowed directions", pkg, rel)
				}
			}
		}
	}
}
