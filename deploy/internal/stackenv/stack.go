// Package stackenv holds what the programs and tests that drive a local stack
// (deploy/e2e, deploy/chaos, the bench runner) share: the built binaries
// and the addresses localstack prints in its banner.
package stackenv

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binaries is the directory of the built binaries: $BIN_DIR (make test,
// make chaos and make bench set it), or a fresh build of the three
// services and deploy's commands into a temp dir. root is the repository's
// root relative to the test's package directory.
func Binaries(t testing.TB, root string) string {
	t.Helper()
	if dir := os.Getenv("BIN_DIR"); dir != "" {
		return dir
	}
	dir := t.TempDir()
	root, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	builds := map[string]string{
		"services/redirect":    "./cmd/redirect",
		"services/conversions": "./cmd/conversions",
		"services/reporting":   "./cmd/reporting",
		"deploy":               "./cmd/...",
	}
	for mod, pkg := range builds {
		cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
		cmd.Dir = filepath.Join(root, mod)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", mod, err, out)
		}
	}
	return dir
}

// Addrs are the addresses in localstack's banner: host:port of each
// service and of the broker, and the database URL.
type Addrs struct {
	Redirect, Conversions, Reporting, Kafka string
	PostgresURL                             string
}

// Read takes an address from one banner line ("redirect
// http://127.0.0.1:8080"); it reports whether the line named one.
func (a *Addrs) Read(line string) bool {
	f := strings.Fields(line)
	if len(f) != 2 {
		return false
	}
	host := strings.TrimPrefix(f[1], "http://")
	switch f[0] {
	case "redirect":
		a.Redirect = host
	case "conversions":
		a.Conversions = host
	case "reporting":
		a.Reporting = host
	case "kafka":
		a.Kafka = host
	case "postgres":
		if _, err := url.Parse(f[1]); err != nil {
			return false
		}
		a.PostgresURL = f[1]
	default:
		return false
	}
	return true
}

// Complete reports whether every address has been read.
func (a Addrs) Complete() bool {
	return a.Redirect != "" && a.Conversions != "" && a.Reporting != "" && a.Kafka != "" && a.PostgresURL != ""
}
