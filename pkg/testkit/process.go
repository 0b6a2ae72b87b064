package testkit

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/linkcredit/linkcredit/pkg/devkafka"
)

// FreeAddr returns a loopback address nothing listens on (yet).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Broker is a Kafka-protocol broker on a fixed address that a test can stop
// (a broker outage) and start again with its topics and offsets.
type Broker struct {
	Addr    string
	dir     string
	mu      sync.Mutex
	cluster *kfake.Cluster
}

// RestartableKafka starts a Broker, stopped at cleanup.
func RestartableKafka(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{Addr: FreeAddr(t), dir: t.TempDir()}
	b.Start(t)
	t.Cleanup(b.Stop)
	return b
}

// Start (re)starts the broker.
func (b *Broker) Start(t testing.TB) {
	t.Helper()
	c, err := devkafka.Start(devkafka.Options{Addr: b.Addr, DataDir: b.dir, AutoCreateTopics: true, MinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.cluster = c
	b.mu.Unlock()
}

// Stop stops the broker; clients see connections refused.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}

// Process is a service binary run by a test: the test binary itself,
// re-executed with env var flag set, whose TestMain then calls main.
type Process struct {
	Base string // http://addr
	cmd  *exec.Cmd
	done chan struct{}
	logs *bytes.Buffer
}

// StartProcess re-executes the test binary with flag=1 and env, waits until
// GET base/healthz answers, and kills the process at cleanup. addrVar names
// the env var that holds its listen address.
func StartProcess(t testing.TB, flag, addrVar string, env map[string]string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), flag+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &Process{cmd: cmd, Base: "http://" + env[addrVar], done: make(chan struct{}), logs: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("process exited during start-up:\n%s", p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("process not up:\n%s", p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill SIGKILLs the process and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and waits up to 20 s.
func (p *Process) Term(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("process did not stop on SIGTERM")
	}
}

// Logs returns what the process wrote so far.
func (p *Process) Logs() string { return p.logs.String() }
