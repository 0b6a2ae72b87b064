package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/deploy/faultproxy"
	"github.com/linkcredit/linkcredit/deploy/loadgen"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/pgcluster"
	"github.com/linkcredit/linkcredit/pkg/proc"
)

// Services are the three services, in start order.
var Services = []string{"redirect", "conversions", "reporting"}

// Options configure a Harness.
type Options struct {
	BinDir   string
	Dir      string // all state and logs
	Replicas int    // of each service; default 1
	Logf     func(format string, args ...any)
}

// Harness is a stack whose every process it can kill, cut off or restart.
type Harness struct {
	ctx context.Context // for restarts by the supervisor
	wg  sync.WaitGroup  // the supervisor's watchers

	opts                        Options
	Token, clickKey, secretsKey string
	pg                          *pgcluster.Cluster
	pgPort                      int
	databaseURL                 string
	brokerAddr                  string
	broker                      *proc.Process
	Kafka                       *faultproxy.Proxy // services reach the broker only through it
	Fronts                      map[string]*faultproxy.Proxy
	mu                          sync.Mutex
	replicas                    map[string][]*replica
	stopping                    bool
	exits                       []string // processes that exited on their own
}

type replica struct {
	name    string
	index   int
	addr    string
	dataDir string
	p       *proc.Process
	killing bool // told to die: its exit is no surprise
}

func (r *replica) id() string { return fmt.Sprintf("%s-%d", r.name, r.index) }

func randomKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return base64.StdEncoding.EncodeToString(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start starts PostgreSQL, the broker behind its proxy, and the replicas
// of each service behind a front proxy, and waits until all are ready.
func Start(ctx context.Context, opts Options) (h *Harness, err error) {
	if opts.Replicas < 1 {
		opts.Replicas = 1
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(opts.Dir, 0o755); err != nil { // the postgres user enters it
		return nil, err
	}
	if opts.BinDir, err = copyBinaries(opts.BinDir, filepath.Join(opts.Dir, "bin")); err != nil {
		return nil, err
	}
	h = &Harness{ctx: ctx, opts: opts, Token: "chaos-admin-token-0123456789abcdefghijk", clickKey: "ck_" + randomKey(24),
		secretsKey: randomKey(32), Fronts: map[string]*faultproxy.Proxy{}, replicas: map[string][]*replica{}}
	defer func() {
		if err != nil {
			h.Stop()
		}
	}()
	if err := h.StartPostgres(ctx); err != nil {
		return h, err
	}
	if h.brokerAddr, err = freeAddr(); err != nil {
		return h, err
	}
	if h.Kafka, err = faultproxy.Start("127.0.0.1:0", h.brokerAddr); err != nil {
		return h, err
	}
	if err := h.StartBroker(); err != nil {
		return h, err
	}
	for _, name := range Services {
		var addrs []string
		for i := range opts.Replicas {
			addr, err := freeAddr()
			if err != nil {
				return h, err
			}
			r := &replica{name: name, index: i, addr: addr, dataDir: filepath.Join(opts.Dir, fmt.Sprintf("%s-%d", name, i))}
			h.replicas[name] = append(h.replicas[name], r)
			addrs = append(addrs, addr)
		}
		if h.Fronts[name], err = faultproxy.Start("127.0.0.1:0", addrs...); err != nil {
			return h, err
		}
		for i := range opts.Replicas {
			if err := h.StartService(ctx, name, i); err != nil {
				return h, err
			}
		}
	}
	return h, nil
}

// Stack is the stack as loadgen sees it: the front proxies.
func (h *Harness) Stack() (*loadgen.Stack, error) {
	return loadgen.NewStack(h.Fronts["redirect"].Addr(), h.Fronts["conversions"].Addr(), h.Fronts["reporting"].Addr(), h.Token)
}

// StartPostgres starts the cluster (again, on the same port and data).
func (h *Harness) StartPostgres(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(h.opts.Dir, "logs", "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(h.opts.Dir, "postgres"), Port: h.pgPort, Log: logf})
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	h.pg, h.pgPort = c, c.Port
	if h.databaseURL == "" {
		if err := createDatabase(ctx, c.URL("postgres"), "linkcredit"); err != nil {
			return err
		}
		h.databaseURL = c.URL("linkcredit")
		// The services sign in as their own roles, as deployed.
		if err := database.EnsureServiceRolesAt(ctx, h.databaseURL); err != nil {
			return err
		}
	}
	h.opts.Logf("postgres up on port %d", c.Port)
	return nil
}

// StopPostgres stops the cluster (a fast shutdown: sessions are cut).
func (h *Harness) StopPostgres() error {
	h.opts.Logf("stopping postgres")
	return h.pg.Stop()
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	db, err := database.Open(adminURL, database.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name))
	return err
}

func (h *Harness) start(name, logName string, env []string) (*proc.Process, error) {
	cmd := exec.Command(filepath.Join(h.opts.BinDir, name))
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.OpenFile(filepath.Join(h.opts.Dir, "logs", logName+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	return proc.Start(cmd, syscall.SIGKILL)
}

// StartBroker starts the dev broker on its address, advertising the proxy.
func (h *Harness) StartBroker() error {
	p, err := h.start("devbroker", "devbroker", []string{"KAFKA_ADDR=" + h.brokerAddr, "DATA_DIR=" + filepath.Join(h.opts.Dir, "kafka"),
		"KAFKA_ADVERTISED_ADDR=" + h.Kafka.Addr()})
	if err != nil {
		return fmt.Errorf("start devbroker: %w", err)
	}
	h.broker = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", h.brokerAddr, time.Second); err == nil {
			c.Close()
			h.opts.Logf("broker up on %s, advertised as %s", h.brokerAddr, h.Kafka.Addr())
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("devbroker exited: %v; see %s", p.Err(), h.logPath("devbroker"))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("devbroker not listening after 30s")
		}
	}
}

// KillBroker SIGKILLs the broker.
func (h *Harness) KillBroker() {
	h.opts.Logf("SIGKILL devbroker")
	_ = h.broker.Stop(syscall.SIGKILL, 0)
}

func (h *Harness) logPath(name string) string { return filepath.Join(h.opts.Dir, "logs", name+".log") }

// StartService starts replica i of a service (again) and waits for /readyz.
func (h *Harness) StartService(ctx context.Context, name string, i int) error {
	r := h.replicas[name][i]
	addrVar := strings.ToUpper(name) + "_ADDR"
	dbURL, err := database.ServiceURL(h.databaseURL, name)
	if err != nil {
		return err
	}
	env := []string{addrVar + "=" + r.addr, "DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + h.Kafka.Addr(),
		"ADMIN_TOKEN=" + h.Token, "SECRETS_KEY=" + h.secretsKey, "DATA_DIR=" + r.dataDir,
		"LOG_LEVEL=warn", "RATE_LIMIT_PER_MINUTE=1000000", "RATE_LIMIT_PER_IP_PER_MINUTE=100000000",
		"INGEST_SESSION_TIMEOUT=6s", "PARTNER_CACHE_TTL=0", "DB_WAIT=120s"}
	if name == "redirect" { // the one service that signs click ids
		env = append(env, "CLICK_ID_KEYS="+h.clickKey)
	}
	p, err := h.start(name, r.id(), env)
	if err != nil {
		return fmt.Errorf("start %s: %w", r.id(), err)
	}
	h.mu.Lock()
	r.p, r.killing = p, false
	h.mu.Unlock()
	h.supervise(r, p)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				h.opts.Logf("%s ready on %s", r.id(), r.addr)
				return nil
			}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited during start-up: %v; see %s", r.id(), p.Err(), h.logPath(r.id()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 90s; see %s", r.id(), h.logPath(r.id()))
		}
	}
}

// Kill SIGKILLs replica i of a service.
func (h *Harness) Kill(name string, i int) {
	h.mu.Lock()
	r := h.replicas[name][i]
	p := r.p
	r.killing = true
	h.mu.Unlock()
	h.opts.Logf("SIGKILL %s", r.id())
	if p != nil {
		_ = p.Stop(syscall.SIGKILL, 0)
	}
	h.mu.Lock()
	if r.p == p {
		r.p = nil // gone on purpose: not an unexpected exit
	}
	h.mu.Unlock()
}

// Restart SIGKILLs replica i of a service, then starts it again.
func (h *Harness) Restart(ctx context.Context, name string, i int, down time.Duration) error {
	h.Kill(name, i)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	return h.StartService(ctx, name, i)
}

// supervise restarts a replica that exits without being told to, as
// Kubernetes restarts a crashed container, and remembers it: the test
// reports every such exit with the last line the process logged.
func (h *Harness) supervise(r *replica, p *proc.Process) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case <-p.Done():
		case <-h.ctx.Done():
			return
		}
		h.mu.Lock()
		surprise := r.p == p && !r.killing && !h.stopping
		if surprise {
			h.exits = append(h.exits, fmt.Sprintf("%s (%v): %s", r.id(), p.Err(), lastLine(h.logPath(r.id()))))
		}
		h.mu.Unlock()
		if !surprise {
			return
		}
		h.opts.Logf("%s exited on its own (%v); restarting it, as a supervisor would", r.id(), p.Err())
		time.Sleep(time.Second)
		if err := h.StartService(h.ctx, r.name, r.index); err != nil {
			h.opts.Logf("restart %s: %v", r.id(), err)
		}
	}()
}

// Exits names the processes that exited without being told to.
func (h *Harness) Exits() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.exits...)
}

func lastLine(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

// copyBinaries links (or copies) the binaries into dir, so the processes
// of the chaos tests are told apart from those of other tests that run at
// the same time from the same BIN_DIR (the e2e tests look for leftovers
// by binary path).
func copyBinaries(from, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, name := range append([]string{"devbroker"}, Services...) {
		src, dst := filepath.Join(from, name), filepath.Join(dir, name)
		if err := os.Link(src, dst); err == nil {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return "", fmt.Errorf("binary %s: %w (make build, or BIN_DIR)", name, err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Logs returns the last lines of every log, for a failing test.
func (h *Harness) Logs(tail int) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(h.opts.Dir, "logs", "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > tail {
			data = data[len(data)-tail:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// Stop stops everything: services, broker, proxies, PostgreSQL.
func (h *Harness) Stop() {
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	for i := len(Services) - 1; i >= 0; i-- {
		for _, r := range h.replicas[Services[i]] {
			if r.p != nil {
				_ = r.p.Stop(syscall.SIGTERM, 10*time.Second)
			}
		}
	}
	if h.broker != nil {
		_ = h.broker.Stop(syscall.SIGTERM, 10*time.Second)
	}
	for _, p := range h.Fronts {
		p.Close()
	}
	if h.Kafka != nil {
		h.Kafka.Close()
	}
	if h.pg != nil {
		_ = h.pg.Stop()
	}
	h.wg.Wait()
}

// Produce writes raw values to a topic through the broker proxy with kcat,
// as any outside client could.
func (h *Harness) Produce(ctx context.Context, topic string, values ...string) error {
	cmd := exec.CommandContext(ctx, "kcat", "-P", "-b", h.Kafka.Addr(), "-t", topic, "-D", "\x1e")
	cmd.Stdin = strings.NewReader(strings.Join(values, "\x1e"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kcat -P %s: %v: %s", topic, err, out)
	}
	return nil
}

// Count is how many messages a topic holds.
func (h *Harness) Count(ctx context.Context, topic string) (int, error) {
	out, err := exec.CommandContext(ctx, "kcat", "-C", "-b", h.Kafka.Addr(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "x\n").Output()
	if err != nil {
		return 0, fmt.Errorf("kcat -C %s: %w", topic, err)
	}
	return strings.Count(string(out), "x\n"), nil
}
