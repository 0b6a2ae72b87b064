package proc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a parent that starts a child and then waits
// to be killed.
func TestMain(m *testing.M) {
	if os.Getenv("PROC_TEST_PARENT") == "1" {
		p, err := Start(exec.Command("sleep", "300"), syscall.SIGTERM)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.Pid())
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

func TestStopEndsTheChild(t *testing.T) {
	p, err := Start(exec.Command("sleep", "300"), syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(syscall.SIGTERM, 5*time.Second); err == nil {
		t.Fatal("sleep killed by SIGTERM reported success")
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestStopKillsAChildThatIgnoresTheSignal(t *testing.T) {
	cmd := exec.Command("sh", "-c", "trap '' TERM; echo trapped; exec sleep 300")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(cmd, syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the trap is installed (an ignored signal stays ignored
	// across exec), not for a guessed while.
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "trapped\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := p.Stop(syscall.SIGTERM, 200*time.Millisecond); err == nil {
		t.Fatal("Stop did not report the kill")
	}
}

func TestChildDiesWithItsKilledParent(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "PROC_TEST_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	childPid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("parent said %q", buf[:n])
	}
	_ = parent.Process.Kill() // SIGKILL: the parent gets no chance to clean up
	_ = parent.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(childPid, 0) == syscall.ESRCH || isZombie(childPid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(childPid, syscall.SIGKILL)
	t.Fatalf("child %d outlived its SIGKILLed parent", childPid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] == "Z"
}
