// Command localstack is `make run`: it starts a throwaway PostgreSQL (unless
// DATABASE_URL names one), the dev broker (unless KAFKA_BROKERS names
// brokers), and the three services, waits until each answers /readyz, and
// prints the URLs and the admin token. On Ctrl-C or SIGTERM it stops the
// services, then the broker, then PostgreSQL, and leaves nothing running.
// Every child is also bound to this process by the kernel: if localstack is
// killed outright, they are stopped too.
//
// All state lives under DATA_DIR (default .run): the database cluster, the
// broker's topics and offsets, the services' logs and click logs.
package main

import (
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
	"syscall"
	"time"

	"github.com/lib/pq"

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
	abs, err := filepath.Abs(s.dataDir)
	s.dataDir = abs
	return s, err
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
	if s.adminToken, err = secret(s.dataDir, "admin-token", "lc_", s.adminToken, 24); err != nil {
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
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(s.dataDir, "postgres"), Port: s.pgPort, Log: logFile})
		if err != nil {
			return err
		}
		stack.postgres = cluster
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
		p, err := startLogged(cmd, filepath.Join(s.dataDir, "logs", "devbroker.log"))
		closeHandedOver(cmd)
		if err != nil {
			return fmt.Errorf("start devbroker: %w", err)
		}
		stack.add("devbroker", p)
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
		p, err := startLogged(cmd, filepath.Join(s.dataDir, "logs", svc.name+".log"))
		closeHandedOver(cmd)
		if err != nil {
			return fmt.Errorf("start %s: %w", svc.name, err)
		}
		stack.add(svc.name, p)
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
	fmt.Fprintf(out, "Try: curl -s http://%s/readyz\nCtrl-C stops everything.\n", s.addrs["redirect"])

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping ...")
		return nil
	case name := <-stack.exited():
		return fmt.Errorf("%s exited unexpectedly; see %s", name, filepath.Join(s.dataDir, "logs", name+".log"))
	}
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
	return tok, os.WriteFile(path, []byte(tok+"\n"), 0o600)
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

// closeHandedOver closes localstack's copies of the sockets a started (or
// failed) child was given.
func closeHandedOver(cmd *exec.Cmd) {
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
}

func startLogged(cmd *exec.Cmd, logPath string) (*proc.Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	return proc.Start(cmd, syscall.SIGTERM)
}

func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && strings.Contains(u[j+3:i], ":") {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// stack is what localstack started, stopped in reverse order.
type stack struct {
	names    []string
	procs    []*proc.Process
	postgres *pgcluster.Cluster
}

func (st *stack) add(name string, p *proc.Process) {
	st.names = append(st.names, name)
	st.procs = append(st.procs, p)
}

// exited reports the first child to exit.
func (st *stack) exited() <-chan string {
	ch := make(chan string, len(st.procs)+1)
	for i, p := range st.procs {
		go func() {
			<-p.Done()
			ch <- st.names[i]
		}()
	}
	if st.postgres != nil {
		go func() {
			<-st.postgres.Done()
			ch <- "postgres"
		}()
	}
	return ch
}

func (st *stack) waitReady(ctx context.Context, s settings, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	exited := st.exited()
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
			case name := <-exited:
				return fmt.Errorf("%s exited during start-up; see %s", name, filepath.Join(s.dataDir, "logs", name+".log"))
			case <-ctx.Done():
				return fmt.Errorf("%s not ready after %s (last: %v); see %s", svc.name, timeout, err, filepath.Join(s.dataDir, "logs", svc.name+".log"))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func (st *stack) stop(out io.Writer) error {
	for i := len(st.procs) - 1; i >= 0; i-- {
		if err := st.procs[i].Stop(syscall.SIGTERM, 30*time.Second); err != nil && !isSignalExit(err) {
			fmt.Fprintf(out, "%s: %v\n", st.names[i], err)
		}
	}
	if st.postgres != nil {
		_ = st.postgres.Stop()
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
