package testkit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/linkcredit/linkcredit/pkg/devkafka"
)

// Listen binds a loopback port for a service process. The socket stays
// open until the test ends; Start hands it to every process started with
// it (restarts included), so no other program can take the port between
// finding and using it.
func Listen(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// Broker is a Kafka-protocol broker that a test can stop (a broker outage)
// and start again, on the same address, with its topics and offsets.
type Broker struct {
	Addr    string
	dir     string
	mu      sync.Mutex
	cluster *kfake.Cluster
	held    *os.File // while stopped: Addr bound, not listening (hold)
}

// RestartableKafka starts a Broker, stopped at cleanup. Its first start
// binds port 0; restarts bind the address it got, which is free again
// only while the broker is stopped.
func RestartableKafka(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{dir: t.TempDir()}
	b.Start(t)
	t.Cleanup(func() { b.stop(false) })
	return b
}

// Start (re)starts the broker.
func (b *Broker) Start(t testing.TB) {
	t.Helper()
	addr := b.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	b.mu.Lock()
	if b.held != nil {
		b.held.Close()
		b.held = nil
	}
	b.mu.Unlock()
	c, err := devkafka.Start(devkafka.Options{Addr: addr, DataDir: b.dir, AutoCreateTopics: true, MinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.cluster = c
	b.Addr = c.ListenAddrs()[0]
	b.mu.Unlock()
}

// Stop stops the broker; clients see connections refused. Until Start,
// its address stays bound (hold): tests run in parallel, and a socket of
// another one given the port would keep the broker from starting again.
func (b *Broker) Stop() { b.stop(true) }

func (b *Broker) stop(keepAddr bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
		if keepAddr && b.held == nil {
			b.held, _ = hold(b.Addr) // best effort: without it the port is merely free
		}
	}
	if !keepAddr && b.held != nil {
		b.held.Close()
		b.held = nil
	}
}

// hold binds addr (127.0.0.1:port) without listening on it: a connection
// to it is refused, as to a stopped broker, and the kernel gives the port
// to no socket that asks for port 0 meanwhile.
func hold(addr string) (*os.File, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("testkit: hold %q: not an IPv4 address and port", addr)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	// The broker's own connections may linger in TIME_WAIT on the port.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "held "+addr), nil
}

// Process is a service binary run by a test: the test binary itself,
// re-executed with env var flag set, whose TestMain then calls main.
type Process struct {
	Base string // http://addr
	cmd  *exec.Cmd
	done chan struct{}
	logs *SyncBuffer
}

// ProcessConfig says how to start a service process.
type ProcessConfig struct {
	Flag     string            // env var set to 1 so TestMain runs the service
	AddrVar  string            // env var that holds its listen address
	Listener *net.TCPListener  // the socket it serves on, from Listen
	Env      map[string]string // its environment, on top of the test's own
	// Now, when set, freezes the process's clock at that instant (NowVar).
	Now time.Time
}

// Start re-executes the test binary as a service, hands it cfg.Listener
// (the process sees the address "fd:3"), waits until it serves
// (waitHealthy), and kills the process at cleanup.
func Start(t testing.TB, cfg ProcessConfig) *Process {
	t.Helper()
	if cfg.Listener == nil {
		t.Fatal("testkit: ProcessConfig.Listener is required (testkit.Listen)")
	}
	f, err := cfg.Listener.File() // a duplicate: the test keeps its own
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	defer f.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cfg.Flag+"=1")
	for k, v := range cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, cfg.AddrVar+"=fd:3")
	if !cfg.Now.IsZero() {
		cmd.Env = append(cmd.Env, NowVar+"="+cfg.Now.Format(time.RFC3339Nano))
	}
	cmd.ExtraFiles = []*os.File{f}
	p := &Process{cmd: cmd, Base: "http://" + cfg.Listener.Addr().String(), done: make(chan struct{}), logs: &SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	// The deadline only bounds a hang: a loaded machine under -race can
	// take a while. A process that hangs is made to dump its goroutines.
	if err := p.waitHealthy(90 * time.Second); err != nil {
		t.Fatalf("%v:\n%s", err, p.Stacks())
	}
	return p
}

// waitHealthy polls /readyz without its dependencies' checks until the
// process serves: while it starts, its address already answers (/healthz
// included) with a stand-in (httpx.Handoff) that is never ready. Each
// probe has its own short timeout.
func (p *Process) waitHealthy(within time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	giveUp := time.After(within)
	for {
		resp, err := client.Get(p.Base + "/readyz?exclude=kafka&exclude=postgres")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("process exited during start-up")
		case <-giveUp:
			return fmt.Errorf("process not up after %s", within)
		case <-time.After(20 * time.Millisecond):
		}
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

// Stacks stops the process with SIGQUIT, so that the Go runtime writes
// every goroutine's stack to its logs, and returns the logs: for a test
// that failed waiting on it, where the process was stuck.
func (p *Process) Stacks() string {
	select {
	case <-p.done:
		return p.Logs()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	return p.Logs()
}

// Logs returns what the process wrote so far.
func (p *Process) Logs() string { return p.logs.String() }
