//go:build race

package manifests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestWithoutRace runs this package's tests in a child `go test` without
// the race detector. make test runs every module with -race, and
// instrumenting the Kubernetes, kustomize and compose-go libraries would
// add minutes of compile time for nothing: these checks read files and
// start processes (which are never instrumented), and the build without
// -race is the one go vet and `go build ./...` have already compiled.
// Every other file of the package is built only without -race.
func TestWithoutRace(t *testing.T) {
	cmd := exec.Command("go", "test", "-count=1", ".")
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); k == "GOFLAGS" {
			kv = "GOFLAGS=" + strings.ReplaceAll(v, "-race", "")
		}
		cmd.Env = append(cmd.Env, kv)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test . (without -race): %v\n%s", err, out)
	}
	t.Logf("go test . (without -race):\n%s", out)
}
