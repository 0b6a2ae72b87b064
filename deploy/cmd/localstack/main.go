// Command localstack is `make run`: it starts a throwaway PostgreSQL (unless
// DATABASE_URL names one), the dev broker (unless KAFKA_BROKERS names
// brokers), and the three services, waits until each answers /readyz, and
// prints the URLs and the admin token. On Ctrl-C or SIGTERM it stops the
// services, then the broker, then PostgreSQL, and leaves nothing running.
// Meanwhile a child that dies is started again (supervise).
// Every child is also bound to this process by the kernel: if localstack is
// killed outright, they are stopped too.
//
// All state lives under DATA_DIR (default .run): the database cluster, the
// broker's topics and offsets, the services' logs and click logs.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/pgcluster"
	"github.com/linkcredit/linkcredit/pkg/proc"
)

func main() {
	// `make run` is our parent: if it is killed, stop the stack as if on
	// Ctrl-C rather than leave it orphaned.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	const usage = "usage: localstack   (make run) PostgreSQL, the dev broker and the three services on loopback;\n" +
		"       configured by the environment: README.md, \"Configuration\" (DATA_DIR, *_ADDR, PG_PORT, KAFKA_ADDR, METRICS_ADDR, ...)\n"
	if code, answered := cli.NoArguments(os.Args[1:], os.Stdout, os.Stderr, usage); answered {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

type settings struct {
	dataDir      string
	binDir       string
	databaseURL  string
	serviceRoles bool // the services sign in as their own roles (localstack made the database)
	pgPort       int
	kafkaBrokers []string
	kafkaAddr    string
	adminToken   string
	clickIDKeys  string
	secretsKey   string
	addrs        map[string]string // service -> listen address
	// metrics is each service's METRICS_ADDR, none when unset: one
	// METRICS_ADDR host:port gives redirect that port and conversions and
	// reporting the next two (metricsAddrs).
	metrics map[string]string
}

var services = []struct{ name, addrVar, def string }{
	{"redirect", "REDIRECT_ADDR", "127.0.0.1:8080"},
	{"conversions", "CONVERSIONS_ADDR", "127.0.0.1:8081"},
	{"reporting", "REPORTING_ADDR", "127.0.0.1:8082"},
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.New(getenv)
	exe, _ := os.Executable()
	s := settings{
		dataDir:      env.String("DATA_DIR", ".run"),
		binDir:       env.String("BIN_DIR", filepath.Dir(exe)),
		databaseURL:  env.URL("DATABASE_URL", "", "postgres", "postgresql"),
		pgPort:       env.Int("PG_PORT", 15432, 0, 65535), // below the ephemeral range: no outgoing connection holds it; 0 picks one
		kafkaBrokers: env.List("KAFKA_BROKERS", nil),
		kafkaAddr:    env.Addr("KAFKA_ADDR", "127.0.0.1:9092"),
		adminToken:   env.String("ADMIN_TOKEN", ""),
		clickIDKeys:  env.String("CLICK_ID_KEYS", ""),
		secretsKey:   env.String("SECRETS_KEY", ""),
		addrs:        map[string]string{},
	}
	for _, svc := range services {
		s.addrs[svc.name] = env.Addr(svc.addrVar, svc.def)
	}
	if getenv("METRICS_ADDR") != "" {
		v := env.Addr("METRICS_ADDR", "")
		m, err := metricsAddrs(v)
		if err != nil {
			env.Fail("METRICS_ADDR", v, err.Error())
		}
		s.metrics = m
	}
	if err := env.Err(); err != nil {
		return s, err
	}
	if err := s.distinctAddrs(); err != nil {
		return s, err
	}
	abs, err := filepath.Abs(s.dataDir)
	s.dataDir = abs
	return s, err
}

// distinctAddrs refuses two of the stack's listeners on one port before
// anything starts: METRICS_ADDR takes three ports in a row, and one of them
// on KAFKA_ADDR's was found only once PostgreSQL and the broker were up,
// when reporting could not bind it. A host of "", 0.0.0.0 or :: takes the
// port on every address, so it clashes with any host.
func (s settings) distinctAddrs() error {
	type listener struct{ variable, host, port string }
	var ls []listener
	add := func(variable, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if strings.EqualFold(host, "localhost") {
			host = "127.0.0.1" // where a listener on localhost binds
		}
		if err == nil && port != "0" {
			ls = append(ls, listener{variable, host, port})
		}
	}
	if s.databaseURL == "" && s.pgPort != 0 {
		add("PG_PORT", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.pgPort)))
	}
	if len(s.kafkaBrokers) == 0 {
		add("KAFKA_ADDR", s.kafkaAddr)
	}
	for _, svc := range services {
		add(svc.addrVar, s.addrs[svc.name])
	}
	for _, svc := range services {
		if m, ok := s.metrics[svc.name]; ok {
			add("METRICS_ADDR ("+svc.name+")", m)
		}
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	for i, a := range ls {
		for _, b := range ls[:i] {
			if a.port == b.port && (a.host == b.host || wildcard(a.host) || wildcard(b.host)) {
				hint := ""
				if strings.HasPrefix(a.variable, "METRICS_ADDR") || strings.HasPrefix(b.variable, "METRICS_ADDR") {
					hint = fmt.Sprintf(" (METRICS_ADDR takes %d ports in a row)", len(services))
				}
				return fmt.Errorf("config: %s and %s both want port %s: move one%s", b.variable, a.variable, a.port, hint)
			}
		}
	}
	return nil
}

// metricsAddrs gives each service its own metrics listener from one
// METRICS_ADDR host:port, in the order of services: the port, then the
// next ones (each service binds its own; they cannot share one). Port 0
// lets each pick its own.
func metricsAddrs(addr string) (map[string]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n+len(services)-1 > 65535 {
		return nil, fmt.Errorf("want host:port with room for %d ports", len(services))
	}
	out := map[string]string{}
	for i, svc := range services {
		p := n
		if n != 0 {
			p = n + i
		}
		out[svc.name] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) (err error) {
	start := time.Now()
	s, err := readSettings(getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.dataDir, "logs"), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(s.dataDir, 0o755); err != nil { // the postgres user enters it
		return err
	}
	if s.adminToken, err = adminToken(s.dataDir, s.adminToken); err != nil {
		return err
	}
	if s.clickIDKeys, err = secret(s.dataDir, "click-id-key", "ck_", s.clickIDKeys, 24); err != nil {
		return err
	}
	if s.secretsKey, err = secret(s.dataDir, "secrets-key", "", s.secretsKey, 32); err != nil {
		return err
	}

	var stack stack
	defer func() { err = errors.Join(err, stack.stop(out)) }()

	// PostgreSQL.
	if s.databaseURL == "" {
		fmt.Fprintln(out, "starting PostgreSQL ...")
		logFile, err := os.OpenFile(filepath.Join(s.dataDir, "logs", "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer logFile.Close()
		if s.pgPort != 0 {
			if err := checkFree(fmt.Sprintf("127.0.0.1:%d", s.pgPort), "PG_PORT"); err != nil {
				return err
			}
		}
		opts := pgcluster.Options{DataDir: filepath.Join(s.dataDir, "postgres"), Port: s.pgPort, Log: logFile}
		cluster, err := pgcluster.Start(ctx, opts)
		if err != nil {
			return err
		}
		opts.Port = cluster.Port // a restart must keep the port the services were given
		stack.add(&child{name: "postgres", layer: layerPostgres, log: logFile.Name(), cur: clusterChild{cluster},
			start: func(ctx context.Context) (running, error) {
				c, err := pgcluster.Start(ctx, opts)
				if err != nil {
					return nil, err
				}
				return clusterChild{c}, nil
			}})
		if err := createDatabase(ctx, cluster.URL("postgres"), "linkcredit"); err != nil {
			return err
		}
		s.databaseURL = cluster.URL("linkcredit")
		// Each service signs in as its own role, as in compose and k8s: it
		// owns its schema and reaches nothing else.
		if err := database.EnsureServiceRolesAt(ctx, s.databaseURL); err != nil {
			return err
		}
		s.serviceRoles = true
	}

	// Kafka.
	if len(s.kafkaBrokers) == 0 {
		fmt.Fprintln(out, "starting the dev broker ...")
		cmd := exec.Command(filepath.Join(s.binDir, "devbroker"))
		cmd.Env = append(os.Environ(), "DATA_DIR="+filepath.Join(s.dataDir, "kafka"))
		addr, err := handOver(cmd, s.kafkaAddr, "KAFKA_ADDR")
		if err != nil {
			return err
		}
		if err := stack.startProcess(ctx, "devbroker", layerBroker, cmd, s.dataDir); err != nil {
			return err
		}
		s.kafkaAddr, s.kafkaBrokers = addr, []string{addr}
	}
	if err := createTopics(ctx, s.kafkaBrokers); err != nil {
		return err
	}

	// The services.
	for _, svc := range services {
		cmd := exec.Command(filepath.Join(s.binDir, svc.name))
		dbURL := s.databaseURL
		if s.serviceRoles {
			if dbURL, err = database.ServiceURL(dbURL, svc.name); err != nil {
				return err
			}
		}
		cmd.Env = append(os.Environ(),
			"DATABASE_URL="+dbURL,
			"KAFKA_BROKERS="+strings.Join(s.kafkaBrokers, ","),
			"ADMIN_TOKEN="+s.adminToken,
			"SECRETS_KEY="+s.secretsKey,
			"DATA_DIR="+filepath.Join(s.dataDir, svc.name),
		)
		if svc.name == "redirect" { // the one service that signs click ids
			cmd.Env = append(cmd.Env, "CLICK_ID_KEYS="+s.clickIDKeys)
		}
		if a, ok := s.metrics[svc.name]; ok { // the last of a name in Env counts
			cmd.Env = append(cmd.Env, "METRICS_ADDR="+a)
		}
		addr, err := handOver(cmd, s.addrs[svc.name], svc.addrVar)
		if err != nil {
			return err
		}
		s.addrs[svc.name] = addr
		if err := stack.startProcess(ctx, svc.name, layerServices, cmd, s.dataDir); err != nil {
			return err
		}
	}
	if err := stack.waitReady(ctx, s, 60*time.Second); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nlinkcredit is up (%.1fs). Logs in %s\n\n", time.Since(start).Seconds(), filepath.Join(s.dataDir, "logs"))
	for _, svc := range services {
		fmt.Fprintf(out, "  %-12s http://%s\n", svc.name, s.addrs[svc.name])
	}
	for _, svc := range services {
		if a, ok := s.metrics[svc.name]; ok {
			fmt.Fprintf(out, "  %-12s http://%s/metrics\n", svc.name+" metrics", a)
		}
	}
	fmt.Fprintf(out, "  %-12s %s\n", "kafka", strings.Join(s.kafkaBrokers, ","))
	fmt.Fprintf(out, "  %-12s %s\n", "postgres", redact(s.databaseURL))
	fmt.Fprintf(out, "  %-12s %s\n", "admin token", s.adminToken)
	fmt.Fprintf(out, "  %-12s http://%s/ (sign in with the admin token)\n\n", "dashboard", s.addrs["reporting"])
	fmt.Fprintf(out, "Try: curl -s http://%s/readyz\nCtrl-C stops everything; a process that dies is restarted.\n", s.addrs["redirect"])

	if err := stack.supervise(ctx, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nstopping ...")
	return nil
}

// adminToken is the stack's admin token: ADMIN_TOKEN when given, else
// the one generated before (DATA_DIR/admin-token), else a new one. The
// file always ends up holding the token the stack runs with, given or
// generated: make demo, loadgen and the README's examples read it there,
// and a file left by an earlier run with another token would have them
// sign in with the wrong one.
func adminToken(dataDir, given string) (string, error) {
	if given == "" {
		return secret(dataDir, "admin-token", "lc_", "", 24)
	}
	if err := keepSecret(filepath.Join(dataDir, "admin-token"), given); err != nil {
		return "", fmt.Errorf("write the admin token for make demo: %w", err)
	}
	return given, nil
}

// secret returns given when set, else the secret generated on a first run
// and kept in DATA_DIR/name, so a restarted demo keeps its admin token and
// its click ids keep verifying.
func secret(dataDir, name, prefix, given string, size int) (string, error) {
	if given != "" {
		return given, nil
	}
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, keepSecret(path, tok)
}

// keepSecret writes value to path, a line readable by its owner only
// (a file that was there keeps its mode through WriteFile, so it is set).
func keepSecret(path, value string) error {
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	db, err := database.Open(adminURL, database.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("check database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name))
	return err
}

func createTopics(ctx context.Context, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	for {
		if err = kafkax.EnsureTopics(ctx, brokers, kafkax.Security{}, events.Topics()); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topics on %s: %w", strings.Join(brokers, ","), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func checkFree(addr, variable string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is in use (%v); stop what listens there or set %s", addr, err, variable)
	}
	return ln.Close()
}

// handOver binds addr (port 0 picks one) and gives the socket to cmd as
// descriptor 3 (variable=fd:3), so the port is never free between being
// chosen and being served. It returns the bound address.
func handOver(cmd *exec.Cmd, addr, variable string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s is in use (%v); stop what listens there or set %s", addr, err, variable)
	}
	defer ln.Close() // the child gets a duplicate
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return "", fmt.Errorf("%s: %w", variable, err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=fd:%d", variable, 2+len(cmd.ExtraFiles)))
	return ln.Addr().String(), nil
}

func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && strings.Contains(u[j+3:i], ":") {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// stack is what localstack started, stopped in reverse order. After
// start-up it keeps each child running (supervise): one that exits is
// started again, with the same command, environment and sockets.
type stack struct {
	children []*child
	// files are the listening sockets handed to the children, kept open
	// here so that a restarted child serves the same socket: connections
	// wait in its backlog meanwhile instead of being refused.
	files []*os.File
	exits chan exit
	// firstDelay is the wait before a child's first restart (default a
	// second); tests shorten it.
	firstDelay time.Duration
}

// A child's layer says what it serves: the stack stops the services
// first (side by side), then the broker, then PostgreSQL.
const (
	layerPostgres = iota
	layerBroker
	layerServices
)

// child is one supervised process.
type child struct {
	name    string
	layer   int
	log     string // its log file
	start   func(ctx context.Context) (running, error)
	cur     running
	started time.Time
	quick   int // exits in a row, each within stableAfter of its start
}

// running is a started child: a process, or the PostgreSQL cluster.
type running interface {
	Done() <-chan struct{}
	Err() error // the exit status, once Done
	Stop() error
	Continue() // undo a kill -STOP, so that it (and what waits on it) can stop
}

type processChild struct{ *proc.Process }

func (p processChild) Stop() error { return p.Process.Stop(syscall.SIGTERM, 30*time.Second) }
func (p processChild) Continue()   { _ = p.Signal(syscall.SIGCONT) } // never a reused pid

type clusterChild struct{ *pgcluster.Cluster }

type exit struct {
	c *child
	r running
}

func (st *stack) add(c *child) {
	if st.exits == nil {
		st.exits = make(chan exit, 16)
	}
	if c.started.IsZero() {
		c.started = time.Now()
	}
	st.children = append(st.children, c)
	st.watch(c)
}

func (st *stack) watch(c *child) {
	r := c.cur
	go func() {
		<-r.Done()
		st.exits <- exit{c, r}
	}()
}

// startProcess starts the command tmpl describes (never tmpl itself: each
// start, the first and every restart, runs a fresh copy of it), logging
// to DATA_DIR/logs/name.log, and adds it to the stack.
func (st *stack) startProcess(ctx context.Context, name string, layer int, tmpl *exec.Cmd, dataDir string) error {
	st.files = append(st.files, tmpl.ExtraFiles...)
	logPath := filepath.Join(dataDir, "logs", name+".log")
	start := func(context.Context) (running, error) {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child holds its own descriptor
		cmd := exec.Command(tmpl.Path, tmpl.Args[1:]...)
		cmd.Env, cmd.ExtraFiles = tmpl.Env, tmpl.ExtraFiles
		cmd.Stdout, cmd.Stderr = f, f
		p, err := proc.Start(cmd, syscall.SIGTERM)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		return processChild{p}, nil
	}
	r, err := start(ctx)
	if err != nil {
		return err
	}
	st.add(&child{name: name, layer: layer, log: logPath, start: start, cur: r})
	return nil
}

// A child that exits within stableAfter of its start maxQuickExits times
// in a row is not started again: localstack stops the stack and says so,
// rather than hide a crash loop. Each quick exit doubles the wait before
// the next start, from a second up to maxRestartDelay.
const (
	stableAfter     = 30 * time.Second
	maxQuickExits   = 5
	maxRestartDelay = 16 * time.Second
)

// supervise restarts each child that exits, until ctx ends.
func (st *stack) supervise(ctx context.Context, out io.Writer) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case x := <-st.exits:
			if x.r != x.c.cur {
				continue
			}
			if err := st.restart(ctx, out, x.c); err != nil {
				return err
			}
		}
	}
}

func (st *stack) restart(ctx context.Context, out io.Writer, c *child) error {
	status := exitStatus(c.cur.Err())
	if time.Since(c.started) < stableAfter {
		c.quick++
	} else {
		c.quick = 0
	}
	for {
		if c.quick >= maxQuickExits {
			return fmt.Errorf("%s exited (%s) %d times in a row within %s of its start; see %s", c.name, status, c.quick, stableAfter, c.log)
		}
		delay := min(cmp.Or(st.firstDelay, time.Second)<<max(c.quick-1, 0), maxRestartDelay)
		fmt.Fprintf(out, "%s exited (%s); starting it again in %s (log: %s)\n", c.name, status, delay, c.log)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		r, err := c.start(ctx)
		if ctx.Err() != nil {
			if err == nil {
				c.cur = r // stopped with the rest
			}
			return nil
		}
		if err == nil {
			c.cur, c.started = r, time.Now()
			st.watch(c)
			fmt.Fprintf(out, "%s started again\n", c.name)
			return nil
		}
		c.quick++
		status = "and did not start: " + err.Error()
	}
}

// exitStatus describes how a child ended.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (st *stack) waitReady(ctx context.Context, s settings, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	for _, svc := range services {
		url := "http://" + s.addrs[svc.name] + "/readyz"
		for {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case x := <-st.exits:
				return fmt.Errorf("%s exited during start-up (%s); see %s", x.c.name, exitStatus(x.r.Err()), x.c.log)
			case <-ctx.Done():
				return fmt.Errorf("%s not ready after %s (last: %v); see %s", svc.name, timeout, err, filepath.Join(s.dataDir, "logs", svc.name+".log"))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// stop stops the children layer by layer, the services side by side.
// Everything paused is continued first: a service waiting on a paused
// PostgreSQL would otherwise sit out its grace period, then be killed
// without its drain.
func (st *stack) stop(out io.Writer) error {
	for _, c := range st.children {
		c.cur.Continue()
	}
	for layer := layerServices; layer >= layerPostgres; layer-- {
		var wg sync.WaitGroup
		for _, c := range st.children {
			if c.layer != layer {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.cur.Stop(); err != nil && !isSignalExit(err) {
					fmt.Fprintf(out, "%s: %v\n", c.name, err)
				}
			}()
		}
		wg.Wait()
	}
	for _, f := range st.files {
		f.Close()
	}
	return nil
}

// isSignalExit reports an exit by the signal we sent, which is not a failure.
func isSignalExit(err error) bool {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}
