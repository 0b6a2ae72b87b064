package e2e

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/deploy/internal/stackenv"
)

// binDir holds the built binaries: $BIN_DIR (make test sets it), or a fresh
// build into a temp dir.
func binDir(t *testing.T) string { return stackenv.Binaries(t, "../..") }

type stackEnv struct {
	bin, dataDir                     string
	redirect, conversions, reporting string
	kafka                            string
	pgPort                           string
}

// newStackEnv asks for port 0 everywhere: localstack binds each socket
// and hands it to its process, so no port is found free and then lost to
// another program. start reads the real addresses from the banner, and a
// restart asks for the same ones again.
func newStackEnv(t *testing.T) *stackEnv {
	dataDir, err := os.MkdirTemp("", "linkcredit-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	picked := "127.0.0.1:0"
	return &stackEnv{bin: binDir(t), dataDir: dataDir, redirect: picked, conversions: picked,
		reporting: picked, kafka: picked, pgPort: "0"}
}

// readBanner takes the addresses from one line of localstack's banner.
func (e *stackEnv) readBanner(line string) {
	var a stackenv.Addrs
	if !a.Read(line) {
		return
	}
	e.redirect = cmp.Or(a.Redirect, e.redirect)
	e.conversions = cmp.Or(a.Conversions, e.conversions)
	e.reporting = cmp.Or(a.Reporting, e.reporting)
	e.kafka = cmp.Or(a.Kafka, e.kafka)
	if u, err := url.Parse(a.PostgresURL); err == nil && a.PostgresURL != "" {
		e.pgPort = u.Port()
	}
}

type runningStack struct {
	cmd    *exec.Cmd
	output chan string
	done   chan error
}

// readAddresses reads the banner's address lines, up to its blank line.
func (e *stackEnv) readAddresses(t *testing.T, output <-chan string, seen *[]string) {
	t.Helper()
	for blank := 0; blank < 2; {
		select {
		case line, ok := <-output:
			if !ok {
				t.Fatalf("localstack exited in its banner:\n%s", strings.Join(*seen, "\n"))
			}
			*seen = append(*seen, line)
			if strings.TrimSpace(line) == "" {
				blank++
				continue
			}
			e.readBanner(line)
		case <-time.After(10 * time.Second):
			t.Fatalf("localstack's banner ended early:\n%s", strings.Join(*seen, "\n"))
		}
	}
}

// start runs localstack and waits for its "is up" banner.
func (e *stackEnv) start(t *testing.T) *runningStack {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "localstack"))
	cmd.Env = append(os.Environ(),
		"BIN_DIR="+e.bin, "DATA_DIR="+e.dataDir, "PG_PORT="+e.pgPort, "KAFKA_ADDR="+e.kafka,
		"REDIRECT_ADDR="+e.redirect, "CONVERSIONS_ADDR="+e.conversions, "REPORTING_ADDR="+e.reporting,
		"ADMIN_TOKEN=e2e-admin-token-0123456789abcdefghijk", "DATABASE_URL=", "KAFKA_BROKERS=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	s := &runningStack{cmd: cmd, output: make(chan string, 100), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.output <- sc.Text()
		}
		close(s.output)
		s.done <- cmd.Wait()
	}()
	start := time.Now()
	deadline := time.After(90 * time.Second)
	var seen []string
	for {
		select {
		case line, ok := <-s.output:
			if !ok {
				t.Fatalf("localstack exited before it was up:\n%s\n%s", strings.Join(seen, "\n"), e.logs())
			}
			seen = append(seen, line)
			if strings.Contains(line, "linkcredit is up") {
				e.readAddresses(t, s.output, &seen)
				t.Logf("stack up in %s: %s", time.Since(start).Round(time.Millisecond), line)
				go func() {
					for range s.output {
					}
				}()
				return s
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("localstack not up after 90s:\n%s\n%s", strings.Join(seen, "\n"), e.logs())
		}
	}
}

func (e *stackEnv) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(e.dataDir, "logs", "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

func (s *runningStack) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	_ = s.cmd.Process.Signal(sig)
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatal("localstack did not stop within 60s")
		return nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func kcat(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (apt-get install kcat; .ci/run installs it): the broker must be shown to work with a standard Kafka client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// leftovers lists live processes of this stack: started with its data
// directory in their arguments, or from the stack's binaries with it in
// their environment (localstack hands DATA_DIR to all it starts). Other
// tests' stacks run the same binaries at the same time (the bench's and
// the chaos tests' in make test), each with a data directory of its own.
func (e *stackEnv) leftovers() []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, e.dataDir) || strings.HasPrefix(cmdline, e.bin+"/") && e.inEnviron(strings.TrimSuffix(p, "cmdline")+"environ") {
			stat, _ := os.ReadFile(strings.TrimSuffix(p, "cmdline") + "stat")
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
			found = append(found, cmdline)
		}
	}
	return found
}

// pidOf is the live process of this stack running the binary name, or 0.
func (e *stackEnv) pidOf(name string) int {
	want := filepath.Join(e.bin, name) + "\x00"
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		dir := strings.TrimSuffix(p, "cmdline")
		if err != nil || string(b) != want || !e.inEnviron(dir+"environ") {
			continue
		}
		stat, _ := os.ReadFile(dir + "stat")
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] != "Z" {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
	}
	return 0
}

// inEnviron reports whether the process whose environ file is at path has
// this stack's data directory in its DATA_DIR, or is still there with an
// environment that cannot be read (then it may be ours: counted).
func (e *stackEnv) inEnviron(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		_, gone := os.Stat(filepath.Dir(path))
		return gone == nil // still there, environment unreadable
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if dir, ok := strings.CutPrefix(kv, "DATA_DIR="); ok && (dir == e.dataDir || strings.HasPrefix(dir, e.dataDir+"/")) {
			return true
		}
	}
	return false
}

func (e *stackEnv) listening() []string {
	var busy []string
	for _, addr := range []string{e.redirect, e.conversions, e.reporting, e.kafka, "127.0.0.1:" + e.pgPort} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			busy = append(busy, addr)
		}
	}
	return busy
}

func (e *stackEnv) assertNothingLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		procs, ports := e.leftovers(), e.listening()
		if len(procs) == 0 && len(ports) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: processes %q, listening %q", procs, ports)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLocalStack is `make run` from outside: every service ready, the
// broker readable with kcat, messages and offsets kept across a restart,
// and nothing left running after SIGTERM or after localstack is killed.
func TestLocalStack(t *testing.T) {
	e := newStackEnv(t)
	s := e.start(t)

	for name, addr := range map[string]string{"redirect": e.redirect, "conversions": e.conversions, "reporting": e.reporting} {
		if code, body := get(t, "http://"+addr+"/readyz"); code != 200 {
			t.Errorf("%s /readyz = %d %s", name, code, body)
		}
		if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
			t.Errorf("%s /healthz = %d", name, code)
		}
		if code, body := get(t, "http://"+addr+"/metrics"); code != 200 || !strings.Contains(body, "# TYPE") {
			t.Errorf("%s /metrics = %d", name, code)
		}
		code, body := get(t, "http://"+addr+"/no/such/route")
		var errBody struct {
			Error struct{ Code, Message string }
		}
		if code != 404 || json.Unmarshal([]byte(body), &errBody) != nil || errBody.Error.Code == "" {
			t.Errorf("%s unknown route = %d %s", name, code, body)
		}
	}

	meta := kcat(t, "-L", "-b", e.kafka)
	for _, topic := range []string{"clicks.v1", "conversions.v1", "clicks.v1.dlq", "conversions.v1.dlq"} {
		if !strings.Contains(meta, `topic "`+topic+`"`) {
			t.Errorf("kcat -L does not list %s:\n%s", topic, meta)
		}
	}
	cmd := exec.Command("kcat", "-P", "-b", e.kafka, "-t", "clicks.v1", "-k", "e2e-key",
		"-H", "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	cmd.Stdin = strings.NewReader(`{"id":"e2e-1"}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	consumed := kcat(t, "-C", "-b", e.kafka, "-t", "clicks.v1", "-o", "beginning", "-e", "-q", "-f", `%k %s %h\n`)
	if !strings.Contains(consumed, `e2e-key {"id":"e2e-1"} traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736`) {
		t.Fatalf("kcat -C read %q", consumed)
	}

	// A service that dies is started again, serving the same socket.
	killed := e.pidOf("redirect")
	if killed == 0 {
		t.Fatal("no redirect process of this stack")
	}
	if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if pid := e.pidOf("redirect"); pid != 0 && pid != killed {
			if resp, err := client.Get("http://" + e.redirect + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redirect not started again within 30s of a SIGKILL\n%s", e.logs())
		}
	}

	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("localstack after SIGTERM: %v", err)
	}
	e.assertNothingLeft(t)

	// A restart keeps the broker's data and the database.
	s = e.start(t)
	consumed = kcat(t, "-C", "-b", e.kafka, "-t", "clicks.v1", "-o", "beginning", "-e", "-q", "-f", `%k\n`)
	if !strings.Contains(consumed, "e2e-key") {
		t.Fatalf("the message did not survive a restart: %q", consumed)
	}
	// Killed outright, localstack still takes its children with it.
	_ = s.stop(t, syscall.SIGKILL)
	e.assertNothingLeft(t)
}
