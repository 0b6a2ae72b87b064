package pgcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestProcessesInThroughASymlink: a data directory named through a
// symlink (DATA_DIR under a symlinked checkout; filepath.Abs keeps $PWD's
// spelling) still finds the cluster's processes, whose /proc/<pid>/cwd the
// kernel gives resolved.
func TestProcessesInThroughASymlink(t *testing.T) {
	real := filepath.Join(t.TempDir(), "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	cmd.Dir = link
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if got := processesIn(link); !slices.Contains(got, cmd.Process.Pid) {
		t.Fatalf("processesIn(%s) = %v, want it to hold %d (its cwd is %s)", link, got, cmd.Process.Pid, real)
	}
}
