package proc

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopEndsAPausedChildGracefully: the README tells make run's users to
// hold a process down with kill -STOP. A stopped process does not act on
// SIGTERM until continued, so Stop waited out the whole grace period (30 s
// in localstack, per paused child) and then SIGKILLed it, skipping its
// drain. Stop must continue the child after signalling it.
func TestStopEndsAPausedChildGracefully(t *testing.T) {
	// A child that handles SIGTERM, as the services and postgres do (a
	// default-action SIGTERM kills even a stopped process).
	p, err := Start(exec.Command("sh", "-c", `trap "exit 3" TERM; echo up; while :; do sleep 0.05; done`), syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the trap is set
	if err := syscall.Kill(p.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Stop(syscall.SIGTERM, 5*time.Second)
	if took := time.Since(start); took > 2*time.Second || err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Stop of a paused child took %s and returned %v; want its SIGTERM trap's exit at once", took, err)
	}
}
