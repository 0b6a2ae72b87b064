package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/linkcredit/linkcredit/deploy/internal/stackenv"
)

// stack is a localstack of the benchmark's own: fresh DATA_DIR, every port
// picked by the kernel, the redirect's rate limits out of the way (one
// load tool is not a flood of visitors).
type stack struct {
	cmd                                     *exec.Cmd
	dataDir                                 string
	redirect, conversions, reporting, kafka string
	postgresURL                             string
	addrs                                   stackenv.Addrs // as read from the banner
	token                                   string
	done                                    chan error
}

func startStack(binDir, dataDir string, log io.Writer) (*stack, error) {
	s := &stack{dataDir: dataDir, token: "bench-admin-token-0123456789abcdefghijkl", done: make(chan error, 1)}
	s.cmd = exec.Command(filepath.Join(binDir, "localstack"))
	s.cmd.Env = append(os.Environ(), "BIN_DIR="+binDir, "DATA_DIR="+dataDir, "PG_PORT=0", "KAFKA_ADDR=127.0.0.1:0",
		"REDIRECT_ADDR=127.0.0.1:0", "CONVERSIONS_ADDR=127.0.0.1:0", "REPORTING_ADDR=127.0.0.1:0",
		"ADMIN_TOKEN="+s.token, "DATABASE_URL=", "KAFKA_BROKERS=", "LOG_LEVEL=warn",
		"RATE_LIMIT_PER_MINUTE=1000000", "RATE_LIMIT_PER_IP_PER_MINUTE=100000000",
		// The parts that pause reporting (SIGSTOP) hold it 15 s to 3
		// minutes (the webhook part, with its settling waits). With
		// the default 10 s session the group expired meanwhile, and on
		// resuming the consumers stored the batches they had fetched
		// before the pause, failed to commit them, rejoined and were
		// handed them again: 0-19,000 of the ingest part's 300,000 clicks
		// went through twice, moving its figure by up to a third. A
		// session longer than any pause keeps the pause a pause (the dev
		// broker takes sessions up to 5 minutes).
		"INGEST_SESSION_TIMEOUT=4m")
	// Should this process die without stopping it (a test's timeout, the
	// memory watchdog), localstack stops its stack (it starts each
	// process with a death signal of its own).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start localstack: %w", err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- s.cmd.Wait()
	}()
	deadline := time.After(120 * time.Second)
	var seen []string
	up := false
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("localstack exited:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			fmt.Fprintln(log, "  | "+line)
			if strings.Contains(line, "linkcredit is up") {
				up = true
			}
			if up && s.parse(line) && s.addrs.Complete() {
				go func() {
					for range lines {
					}
				}()
				return s, nil
			}
		case <-deadline:
			s.stop()
			return nil, fmt.Errorf("localstack not up after 120s:\n%s", strings.Join(seen, "\n"))
		}
	}
}

// parse takes an address from a banner line.
func (s *stack) parse(line string) bool {
	if !s.addrs.Read(line) {
		return false
	}
	s.redirect, s.conversions, s.reporting = s.addrs.Redirect, s.addrs.Conversions, s.addrs.Reporting
	s.kafka, s.postgresURL = s.addrs.Kafka, s.addrs.PostgresURL
	return true
}

// pids maps each process of the stack to its pid: the services and the
// broker by name, "postgres" the postmaster (its backends are its children).
func (s *stack) pids() map[string]int {
	out := map[string]int{}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		name := comm(pid)
		if parentOf(pid) != s.cmd.Process.Pid {
			continue
		}
		out[name] = pid
	}
	return out
}

func (s *stack) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}
