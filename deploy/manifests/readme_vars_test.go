//go:build !race

package manifests

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readsVariable matches where a program reads an environment variable:
// config.Reader's methods (env.String("DATA_DIR", ...)) and getenv.
var readsVariable = regexp.MustCompile(`(?:\b(?:env|r|e)\.[A-Z][A-Za-z]*|\b[gG]etenv)\("([A-Z][A-Z0-9_]+)"`)

// TestReadmeDocumentsEveryVariable: every environment variable a service,
// the shared packages or make run's programs read by a literal name is in
// the README (as `NAME`), so an operator can find what a deployment may
// set. A name the code builds or passes along (the *_ADDR given to
// platform.ReadConfig) is not seen here; those are in the README's first
// rows. Test helpers (pkg/testkit) and test files are not configuration.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	read := map[string][]string{} // variable -> files
	for _, dir := range []string{"services", "pkg", "deploy/cmd/localstack", "deploy/cmd/devbroker"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testkit" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range readsVariable.FindAllSubmatch(src, -1) {
				rel, _ := filepath.Rel(root, path)
				read[string(m[1])] = append(read[string(m[1])], rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(read) < 40 {
		t.Fatalf("found only %d variables read: the pattern no longer matches how the code reads them", len(read))
	}
	for name, files := range read {
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("%s is read (%s) but not in the README", name, strings.Join(slices.Compact(files), ", "))
		}
	}
}
