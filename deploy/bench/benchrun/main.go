// Command benchrun is `make bench`: it starts a local stack of its own (a
// fresh DATA_DIR, ports picked by the kernel), measures it with loadgen
// beside a yardstick for each figure in the same run, prints one table,
// writes it as JSON under deploy/bench/results/, and ends with loadgen's
// exact reconciliation of everything the stack acknowledged during the run.
//
//	redirect    clicks/s, p50, p99 over many links and thousands of user agents,
//	            unpinned and per core (taskset: the server alone on CPU 0,
//	            the rest of the stack and the load tool on CPU 1), beside
//	            bare302 measured the same way; per core is requests per busy
//	            core-second, the server's CPU time from /proc/<pid>/stat
//	webhooks    signed webhooks/s and p99 at a fixed concurrency, beside
//	            bareinsert (one single-row INSERT per request, same Postgres)
//	ingest      clicks reporting ingests per second from a backlog, beside a
//	            plain COPY of the same rows into a table like reporting's
//	delay       click (302) to report p50/p99 at a gentle rate
//	memory      resident set of each process
//
// Settings (env): BIN_DIR (bin), DURATION per measurement (15s),
// CONNECTIONS (64), LINKS (10000), USER_AGENTS (5000), INGEST_CLICKS
// (300000), RESULTS_DIR (deploy/bench/results), KEEP=1 keeps the DATA_DIR,
// PHASES (a comma-separated subset of redirect,webhooks,ingest,delay; all
// by default) to measure one figure while working on it, QUIET_WAIT (1m:
// how long each measurement waits at most for a quiet machine).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type settings struct {
	binDir, resultsDir string
	duration           time.Duration
	connections, links int
	userAgents         int
	ingestClicks       int64
	keep               bool
	phases             map[string]bool // nil: all
	quietWait          time.Duration   // the most a measurement waits for a quiet machine
}

func readSettings(getenv func(string) string) (settings, error) {
	s := settings{binDir: "bin", resultsDir: "deploy/bench/results", duration: 15 * time.Second,
		connections: 64, links: 10000, userAgents: 5000, ingestClicks: 300000, keep: getenv("KEEP") != "",
		quietWait: time.Minute}
	if v := getenv("BIN_DIR"); v != "" {
		s.binDir = v
	}
	if v := getenv("RESULTS_DIR"); v != "" {
		s.resultsDir = v
	}
	var err error
	if v := getenv("DURATION"); v != "" {
		if s.duration, err = time.ParseDuration(v); err != nil || s.duration < time.Second {
			return s, fmt.Errorf("DURATION=%q: want a Go duration of at least 1s", v)
		}
	}
	if v := getenv("QUIET_WAIT"); v != "" {
		if s.quietWait, err = time.ParseDuration(v); err != nil || s.quietWait < 0 {
			return s, fmt.Errorf("QUIET_WAIT=%q: want a Go duration, 0 or more", v)
		}
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"CONNECTIONS", &s.connections}, {"LINKS", &s.links}, {"USER_AGENTS", &s.userAgents}} {
		if v := getenv(n.name); v != "" {
			if *n.dst, err = strconv.Atoi(v); err != nil || *n.dst < 1 {
				return s, fmt.Errorf("%s=%q: want a positive number", n.name, v)
			}
		}
	}
	if v := getenv("INGEST_CLICKS"); v != "" {
		if s.ingestClicks, err = strconv.ParseInt(v, 10, 64); err != nil || s.ingestClicks < 1 {
			return s, fmt.Errorf("INGEST_CLICKS=%q: want a positive number", v)
		}
	}
	if v := getenv("PHASES"); v != "" {
		s.phases = map[string]bool{}
		for _, p := range strings.Split(v, ",") {
			if !slices.Contains(phaseNames(), p) {
				return s, fmt.Errorf("PHASES=%q: %q is not one of %s", v, p, strings.Join(phaseNames(), ","))
			}
			s.phases[p] = true
		}
	}
	if s.binDir, err = filepath.Abs(s.binDir); err != nil {
		return s, err
	}
	return s, nil
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	for _, b := range []string{"localstack", "devbroker", "redirect", "conversions", "reporting", "bare302", "bareinsert"} {
		if _, err := os.Stat(filepath.Join(cfg.binDir, b)); err != nil {
			return fmt.Errorf("%s is missing from %s (make build)", b, cfg.binDir)
		}
	}
	dataDir, err := os.MkdirTemp("", "linkcredit-bench-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dataDir, 0o711); err != nil { // the postgres user enters it
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(dataDir)
	}
	began := time.Now()
	fmt.Fprintf(stderr, "== starting a stack of its own in %s\n", dataDir)
	st, err := startStack(cfg.binDir, dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.stop()
	b := &bench{cfg: cfg, st: st, log: stderr, out: report{Machine: machine(), Started: began.UTC()}}
	defer b.stopExtras()
	if err := b.all(ctx); err != nil {
		return err
	}
	b.out.Seconds = time.Since(began).Seconds()
	b.print(stdout)
	if err := os.MkdirAll(cfg.resultsDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(cfg.resultsDir, began.UTC().Format("20060102T150405Z")+".json")
	data, _ := json.MarshalIndent(b.out, "", "  ") // plain values always marshal
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwritten to %s (%.0fs in all)\n", path, b.out.Seconds)
	if !b.out.Reconciliation.OK {
		return fmt.Errorf("the reports differ from what the stack acknowledged")
	}
	return nil
}

func machine() map[string]string {
	m := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range splitLines(string(b)) {
			if k, v, ok := cutTrim(line, ":"); ok && k == "model name" {
				m["cpu"] = v
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = string(trimNL(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range splitLines(string(b)) {
			if k, v, ok := cutTrim(line, ":"); ok && k == "MemTotal" {
				m["memory"] = v
				break
			}
		}
	}
	if w := writeback(func(name string) ([]byte, error) { return os.ReadFile("/proc/sys/vm/" + name) }); w != "" {
		m["writeback"] = w
	}
	return m
}

// writeback words the kernel's dirty page settings (read names a file of
// /proc/sys/vm): when it writes out what processes wrote, and so how the
// disk's writes bunch up under PostgreSQL's flushes, which the webhooks'
// p99 follows (docs/operations.md, "The kernel's writeback"). Empty when
// they cannot be read.
func writeback(read func(name string) ([]byte, error)) string {
	get := func(name string) (int64, bool) {
		b, err := read(name)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(string(trimNL(b)), 10, 64)
		return n, err == nil
	}
	expire, ok1 := get("dirty_expire_centisecs")
	wake, ok2 := get("dirty_writeback_centisecs")
	if !ok1 || !ok2 {
		return ""
	}
	// The bytes settings, when set, stand instead of the ratios (which
	// are shares of the memory that may hold dirty pages).
	limit := func(bytesName, ratioName string) string {
		if n, ok := get(bytesName); ok && n > 0 {
			if n < 1<<20 {
				return strconv.FormatInt(n>>10, 10) + " KiB"
			}
			return strconv.FormatInt(n>>20, 10) + " MiB"
		}
		if n, ok := get(ratioName); ok {
			return strconv.FormatInt(n, 10) + " % of dirtyable memory"
		}
		return "?"
	}
	checked := fmt.Sprintf("checked every %gs", float64(wake)/100)
	if wake == 0 {
		checked = "no periodic writeback"
	}
	return fmt.Sprintf("dirty pages written after %gs, %s, from %s in the background, writers held at %s",
		float64(expire)/100, checked, limit("dirty_background_bytes", "dirty_background_ratio"), limit("dirty_bytes", "dirty_ratio"))
}

// phaseNames are the measurements PHASES may pick, in the order they run.
func phaseNames() []string { return []string{"redirect", "webhooks", "ingest", "delay"} }
