package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/linkcredit/linkcredit/deploy/loadgen"
	"github.com/linkcredit/linkcredit/pkg/database"
)

// measure is one load figure: throughput, latency and the server's CPU.
type measure struct {
	PerSecond  float64 `json:"per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Requests   int64   `json:"requests"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	// PerBusyCoreSecond is requests per second of the server's CPU time.
	PerBusyCoreSecond float64 `json:"per_busy_core_second,omitempty"`
	Busy              float64 `json:"server_busy_share,omitempty"` // of one core
	// LoadCPUSeconds is the load generator's own CPU time (this process).
	LoadCPUSeconds float64       `json:"loadgen_cpu_seconds,omitempty"`
	Statuses       map[int]int64 `json:"statuses,omitempty"`
	NotSent        int64         `json:"not_sent,omitempty"`
	// CPUPerRequest is, for the webhook runs, the CPU time each process
	// used during the run in µs a request acknowledged: the server, each
	// other process of the stack, loadgen, and PostgreSQL's split by the
	// role its backends served (cpuSnapshot.since).
	CPUPerRequest map[string]float64 `json:"cpu_us_per_request,omitempty"`
	// SocketP50ms and SocketP99ms are the same requests' latencies from
	// the request's write to the kernel's receive time of the answer at
	// loadgen's socket: the server's and the kernel's part, without
	// loadgen's own wait to run (on the per-core part's CPU 1 it shares
	// the core with the broker, which is busy only while the redirect is
	// measured). 0 where the kernel gives no receive times.
	SocketP50ms float64 `json:"socket_p50_ms,omitempty"`
	SocketP99ms float64 `json:"socket_p99_ms,omitempty"`
	// Cores is how each CPU's time went during the run (/proc/stat), by
	// CPU ("cpu0", ...): in the per-core part, CPU 0's busy share beside
	// the server's own tells whether something else ran on its core, and
	// its steal whether the hypervisor took it.
	Cores map[string]coreShares `json:"cores,omitempty"`
	// latency and socketLatency hold every request's, so that runs can be
	// pooled.
	latency, socketLatency *loadgen.Hist
}

type pair struct {
	Subject   measure `json:"subject"`
	Yardstick measure `json:"yardstick"`
}

type report struct {
	Machine  map[string]string `json:"machine"`
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Settings map[string]any    `json:"settings"`
	Redirect pair              `json:"redirect_unpinned"`
	PerCore  *pair             `json:"redirect_per_core,omitempty"`
	// PerCoreRounds are the alternating rounds PerCore pools.
	PerCoreRounds []pair `json:"redirect_per_core_rounds,omitempty"`
	// Webhooks pools WebhooksRounds: conversions and bareinsert in
	// alternating closed-loop rounds.
	Webhooks       pair   `json:"webhooks"`
	WebhooksRounds []pair `json:"webhooks_rounds,omitempty"`
	// WebhooksAtTarget: both at WebhooksTargetRate, half bareinsert's
	// most (the target: conversions sustains it, every answer a 2xx,
	// p99 under 50 ms).
	WebhooksAtTarget   pair    `json:"webhooks_at_target"`
	WebhooksTargetRate float64 `json:"webhooks_target_rate"`
	// WebhooksAtRate: both at WebhooksRate (80 % of conversions' most).
	WebhooksAtRate pair    `json:"webhooks_at_rate"`
	WebhooksRate   float64 `json:"webhooks_rate"`
	// WebhooksLive: conversions at liveOver times WebhooksTargetRate,
	// reporting live (the three above run with it paused).
	WebhooksLive measure `json:"webhooks_live"`
	// WebhooksLiveSustained: with reporting live, the first of liveRates
	// (that rate, then 0.8, 0.64, 0.51 and 0.41 of WebhooksTargetRate)
	// that the whole stack sustains (see sustained), at
	// WebhooksLiveSustainedRate; zero when none does.
	WebhooksLiveSustained     measure `json:"webhooks_live_sustained"`
	WebhooksLiveSustainedRate float64 `json:"webhooks_live_sustained_rate"`
	Ingest                    struct {
		Clicks int64 `json:"clicks"`
		// PerSecond is from the first ingested row to the last; the wait
		// before the first (the consumers rejoining their group after
		// SIGCONT) is apart, and counted in PerSecondWithWait.
		PerSecond         float64 `json:"per_second"`
		PerSecondWithWait float64 `json:"per_second_with_wait"`
		FirstWaitSec      float64 `json:"seconds_to_first_row"`
		// StoredTwice is how many clicks reporting's consumers were handed
		// again after storing them (a batch stored but not committed to
		// Kafka before the consumer group rebalanced).
		StoredTwice   int64   `json:"stored_twice"`
		CopyRows      int64   `json:"copy_rows"`
		CopyPerSecond float64 `json:"copy_per_second"`
		// CPUPerClick is each process's CPU time from resuming reporting
		// to the reports holding every click, in µs a click (postgres:
		// every backend, the report polls' included).
		CPUPerClick map[string]float64 `json:"cpu_us_per_click,omitempty"`
		// CPUPerClickFolded is the same until the compactor has folded
		// every delta into the rollups, FoldedAfterSec after resuming.
		CPUPerClickFolded map[string]float64 `json:"cpu_us_per_click_folded,omitempty"`
		FoldedAfterSec    float64            `json:"seconds_to_folded"`
	} `json:"ingest"`
	Delay struct {
		Clicks int     `json:"clicks"`
		Rate   float64 `json:"offered_per_second"`
		P50ms  float64 `json:"p50_ms"`
		P99ms  float64 `json:"p99_ms"`
		PollMs float64 `json:"poll_interval_ms"`
		// ReportP50ms and ReportP99ms are how long the polled report took
		// to answer: a click counts as reported when the answer holding
		// it arrived, so a slow report adds its own time to the delay.
		ReportP50ms float64 `json:"report_p50_ms"`
		ReportP99ms float64 `json:"report_p99_ms"`
	} `json:"click_to_report"`
	Memory         map[string]memory `json:"memory_mib"`
	Reconciliation struct {
		OK          bool     `json:"ok"`
		Clicks      int64    `json:"clicks"`
		Conversions int64    `json:"conversions"`
		Summary     string   `json:"summary"`
		Differences []string `json:"differences,omitempty"`
	} `json:"reconciliation"`
}

type bench struct {
	cfg      settings
	st       *stack
	log      io.Writer
	out      report
	stack    *loadgen.Stack
	ledger   *loadgen.Ledger
	partners []loadgen.Partner
	links    []loadgen.Link
	run      string
	extras   []*exec.Cmd
	bare     string // bare302's address
	insert   string // bareinsert's address
}

func (b *bench) phase(format string, args ...any) {
	fmt.Fprintf(b.log, "== "+format+"\n", args...)
}

func (b *bench) all(ctx context.Context) error {
	var err error
	b.stack, err = loadgen.NewStack(b.st.redirect, b.st.conversions, b.st.reporting, b.st.token)
	if err != nil {
		return err
	}
	b.ledger = loadgen.NewLedger()
	b.run = "bench" + strconv.FormatInt(time.Now().Unix(), 36)
	b.partners = loadgen.DefaultPartners(b.run)
	b.links = loadgen.GenerateLinks(b.run, b.cfg.links, b.partners)
	b.out.Settings = map[string]any{"duration_s": b.cfg.duration.Seconds(), "connections": b.cfg.connections,
		"links": b.cfg.links, "user_agents": b.cfg.userAgents, "ingest_clicks": b.cfg.ingestClicks,
		"traffic": "1.5 % crawlers, 0.5 % unfurlers, 1 % HEAD, placements and UTM tags, each connection from its own 127.x.y.z"}

	b.phase("setup: %d partners, %d links; bare302 and bareinsert beside the stack", len(b.partners), len(b.links))
	setup := loadgen.NewRunner(b.stack, b.clickConfig("setup", 0))
	if err := setup.Setup(ctx); err != nil {
		return err
	}
	if err := b.startExtras(); err != nil {
		return err
	}
	steps := []struct {
		phase, name string
		fn          func(context.Context) error
	}{
		{"redirect", "redirect, unpinned", b.redirectUnpinned},
		{"redirect", "redirect, per core", b.redirectPerCore},
		{"webhooks", "webhooks", b.webhooks},
		{"ingest", "ingest", b.ingest},
		{"delay", "click to report", b.delay},
	}
	for _, s := range steps {
		if b.cfg.phases != nil && !b.cfg.phases[s.phase] {
			continue
		}
		// Each part starts on a quiet stack: reporting still ingesting the
		// clicks of the part before would take CPU and PostgreSQL from it.
		if err := b.settle(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	b.memory()
	b.phase("reconciliation: every acknowledged click and conversion of the run, once, and nothing else")
	v, err := loadgen.Reconcile(ctx, b.stack, b.ledger, 3*time.Minute)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	r := &b.out.Reconciliation
	r.OK, r.Clicks, r.Conversions, r.Summary, r.Differences = v.OK(), v.Clicks, v.Conversions, v.String(), v.Diffs
	return nil
}

// clickConfig is the realistic traffic every click measurement sends.
func (b *bench) clickConfig(phase string, share float64) loadgen.Config {
	return loadgen.Config{Run: b.run + "-" + phase, LinkSet: b.links, Partners: b.partners, Concurrency: b.cfg.connections,
		UserAgents: b.cfg.userAgents, Crawlers: 0.015, Unfurlers: 0.005, Heads: 0.01, ConversionShare: share,
		SourceIPs: true, Seed: 42, Ledger: b.ledger, Duration: b.cfg.duration, Progress: b.log}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (b *bench) startExtras() error {
	var lines strings.Builder
	for _, l := range b.links {
		fmt.Fprintf(&lines, "%s %s\n", l.Code, l.Destination())
	}
	linksFile := filepath.Join(b.st.dataDir, "bare302-links.txt")
	if err := os.WriteFile(linksFile, []byte(lines.String()), 0o644); err != nil {
		return err
	}
	var err error
	if b.bare, err = freeAddr(); err != nil {
		return err
	}
	if b.insert, err = freeAddr(); err != nil {
		return err
	}
	for _, x := range []struct{ name, addr string }{{"bare302", b.bare}, {"bareinsert", b.insert}} {
		cmd := exec.Command(filepath.Join(b.cfg.binDir, x.name))
		cmd.Env = append(os.Environ(), "ADDR="+x.addr, "LINKS_FILE="+linksFile, "DATABASE_URL="+b.st.postgresURL)
		logf, err := os.Create(filepath.Join(b.st.dataDir, "logs", x.name+".log"))
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("start %s: %w", x.name, err)
		}
		logf.Close()
		b.extras = append(b.extras, cmd)
		if err := waitListening(x.addr, 30*time.Second); err != nil {
			return fmt.Errorf("%s: %w (see %s)", x.name, err, logf.Name())
		}
	}
	return nil
}

func (b *bench) stopExtras() {
	for _, c := range b.extras {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clicks runs one click measurement of dur against addr (the redirect, or
// bare302 with a ledger of its own) and reads pid's CPU time around it.
func (b *bench) clicks(ctx context.Context, phase, addr string, pid int, ledger *loadgen.Ledger, dur time.Duration) (measure, error) {
	stack := *b.stack
	stack.Redirect = "http://" + addr
	cfg := b.clickConfig(phase, 0)
	cfg.Ledger, cfg.Duration = ledger, dur
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return measure{}, err
	}
	self0, _ := cpuSeconds(os.Getpid())
	ticks0, _ := readCPUTicks()
	res := loadgen.NewRunner(&stack, cfg).Clicks(ctx)
	ticks1, _ := readCPUTicks()
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return measure{}, err
	}
	self1, _ := cpuSeconds(os.Getpid())
	m := measure{PerSecond: res.RedirectRate(), P50ms: ms(res.Latency.Quantile(0.5)), P99ms: ms(res.Latency.Quantile(0.99)),
		Requests: res.Redirects, Seconds: res.Elapsed.Seconds(), CPUSeconds: cpu1 - cpu0, Statuses: res.Statuses, NotSent: res.NotSent,
		LoadCPUSeconds: self1 - self0, latency: &res.Latency}
	m.Cores = coresSince(ticks0, ticks1)
	if res.SocketLatency.Count() > 0 {
		m.SocketP50ms, m.SocketP99ms = ms(res.SocketLatency.Quantile(0.5)), ms(res.SocketLatency.Quantile(0.99))
		m.socketLatency = &res.SocketLatency
	}
	if m.CPUSeconds > 0 {
		m.PerBusyCoreSecond = float64(res.Redirects) / m.CPUSeconds
		m.Busy = m.CPUSeconds / m.Seconds
	}
	atSocket := "no receive times from this kernel"
	if m.socketLatency != nil {
		atSocket = fmt.Sprintf("at the socket %.2f / %.2f", m.SocketP50ms, m.SocketP99ms)
	}
	fmt.Fprintf(b.log, "   %s: %.0f/s, p50 %.2f ms, p99 %.2f ms (%s), %d requests, server CPU %.1fs (%.0f %% of a core), %.0f per busy core-second, loadgen CPU %.1fs, statuses %v\n",
		phase, m.PerSecond, m.P50ms, m.P99ms, atSocket, m.Requests, m.CPUSeconds, 100*m.Busy, m.PerBusyCoreSecond, m.LoadCPUSeconds, m.Statuses)
	if line := coresLine(m.Cores); line != "" {
		fmt.Fprintf(b.log, "     %s\n", line)
	}
	return m, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (b *bench) redirectUnpinned(ctx context.Context) error {
	pids := b.st.pids()
	b.phase("redirect unpinned, %s at %d connections: linkcredit, then bare302", b.cfg.duration, b.cfg.connections)
	var err error
	if b.out.Redirect.Subject, err = b.clicks(ctx, "redirect", b.st.redirect, pids["redirect"], b.ledger, b.cfg.duration); err != nil {
		return err
	}
	b.out.Redirect.Yardstick, err = b.clicks(ctx, "bare302", b.bare, b.extras[0].Process.Pid, loadgen.NewLedger(), b.cfg.duration)
	return err
}

// everyPid is every process of the run but the server under test: the
// stack's, postgres backends, the yardsticks and this one.
func (b *bench) everyPid() []int {
	pids := append(descendants(b.st.cmd.Process.Pid), b.st.cmd.Process.Pid, os.Getpid())
	for _, c := range b.extras {
		pids = append(pids, c.Process.Pid)
	}
	return pids
}

func (b *bench) pinAll(cpus string, except map[int]string) {
	for _, pid := range b.everyPid() {
		if _, ok := except[pid]; ok {
			continue
		}
		_ = pin(pid, cpus) // a backend may have exited in between
	}
	for pid, c := range except {
		_ = pin(pid, c)
	}
}

// pause stops pid (SIGSTOP) and returns what continues it, once however
// often it is called.
func (b *bench) pause(pid int) (resume func(), err error) {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("pause %d: %w", pid, err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) }, nil
}

// pauseReporting pauses reporting (pid) at a moment when none of its
// PostgreSQL sessions is inside a transaction. Stopped inside one (its
// rollup fold, say), reporting held back vacuum in every table for the
// whole pause: in one run the conversions relay's read of its outbox's
// head walked 242,000 dead rows a time and took a whole core through the
// webhook part, its CPU charged to both servers' rounds. (The services'
// sessions end such a transaction after database.IdleInTransaction, a
// minute; a pause here must not hold one even that long.)
func (b *bench) pauseReporting(ctx context.Context, pid int) (resume func(), err error) {
	const tries = 100
	for try := 1; ; try++ {
		resume, err := b.pause(pid)
		if err != nil {
			return nil, err
		}
		// A statement running as the process stopped ends by itself; one
		// inside a transaction leaves the session "idle in transaction".
		// Looked at twice: a BEGIN written just before the stop may not
		// have been read by its backend at the first look.
		open := "0"
		for look := 0; look < 2 && open == "0"; look++ {
			if err = sleepCtx(ctx, 20*time.Millisecond); err == nil {
				open, err = b.psql(ctx, fmt.Sprintf(`SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' AND xact_start IS NOT NULL`,
					database.ServiceRole("reporting")))
			}
			if err != nil {
				resume()
				return nil, err
			}
		}
		if open == "0" {
			return resume, nil
		}
		if try == tries {
			fmt.Fprintf(b.log, "   (reporting paused with %s sessions in a transaction: none free in %d tries)\n", open, tries)
			return resume, nil
		}
		resume()
		if err := sleepCtx(ctx, time.Duration(10+try)*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// gomaxprocsSettle is how long a Go process may take to notice that it was
// pinned to fewer CPUs: the runtime checks its CPU affinity at most once a
// second.
const gomaxprocsSettle = 1500 * time.Millisecond

func (b *bench) redirectPerCore(ctx context.Context) error {
	if runtime.NumCPU() < 2 {
		b.phase("redirect per core: skipped, one CPU")
		return nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.phase("redirect per core: skipped, no taskset (apt-get install util-linux)")
		return nil
	}
	all := fmt.Sprintf("0-%d", runtime.NumCPU()-1)
	defer b.pinAll(all, nil)
	pids := b.st.pids()
	redirect, bare := pids["redirect"], b.extras[0].Process.Pid
	b.phase("redirect per core: the server alone on CPU 0, everything else (stack, load tool) on CPU 1, %d alternating rounds of each; reporting paused (SIGSTOP) until both are measured", perCoreRounds)
	// Reporting ingesting 15-20k clicks/s would take CPU 1 from the load
	// tool, which then cannot offer CPU 0 enough load. It catches up after
	// (the ingest phase measures it) and the reconciliation counts it all.
	resume, err := b.pauseReporting(ctx, pids["reporting"])
	if err != nil {
		return err
	}
	defer resume()
	// Alternating rounds, each side first in turn: on a shared machine
	// the same server's consecutive runs differ by tens of percent, and
	// one run of each would put the two in different spells of it. The
	// figure pools the rounds (pooledMeasure).
	dur := max(3*time.Second, b.cfg.duration/perCoreRounds)
	var subject, yardstick []measure
	sides := [2]struct {
		name, addr string
		pid        int
		ledger     func() *loadgen.Ledger // bare302 has one of its own each run
		out        *[]measure
	}{
		{"redirect", b.st.redirect, redirect, func() *loadgen.Ledger { return b.ledger }, &subject},
		{"bare302", b.bare, bare, loadgen.NewLedger, &yardstick},
	}
	for r := range perCoreRounds {
		for i := range 2 {
			x := sides[(i+r)%2]
			b.pinAll("1", map[int]string{x.pid: "0"})
			if r == 0 && i == 0 {
				// Both servers (and every other Go process of the stack)
				// start with two Go processors; pinned to one CPU, the
				// runtime lowers GOMAXPROCS to 1 only at its next check, at
				// most a second later (sysmon's). Without this wait the
				// first round would measure two processors taking turns
				// on one core.
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(gomaxprocsSettle):
				}
			}
			m, err := b.clicks(ctx, fmt.Sprintf("%s pinned, round %d", x.name, r+1), x.addr, x.pid, x.ledger(), dur)
			if err != nil {
				return err
			}
			*x.out = append(*x.out, m)
		}
		b.out.PerCoreRounds = append(b.out.PerCoreRounds, pair{Subject: subject[r], Yardstick: yardstick[r]})
		fmt.Fprintf(b.log, "   round %d: %s\n", r+1, ratio(subject[r].PerBusyCoreSecond, yardstick[r].PerBusyCoreSecond))
	}
	b.out.PerCore = &pair{Subject: pooledMeasure(subject), Yardstick: pooledMeasure(yardstick)}
	return nil
}

// perCoreRounds is how many alternating rounds the per-core part runs,
// and webhookRounds how many the webhooks' closed loop runs.
const (
	perCoreRounds = 3
	webhookRounds = 3
)

// pooledMeasure is runs taken as one: counts and times summed, rates from
// the sums, and the latency percentiles those of every request of the
// runs together (pooledQuantiles), at loadgen and at its socket alike.
func pooledMeasure(runs []measure) measure {
	var out measure
	latency, socket := make([]quantiles, len(runs)), make([]quantiles, len(runs))
	for i, m := range runs {
		latency[i] = quantiles{m.latency, m.P50ms, m.P99ms}
		socket[i] = quantiles{m.socketLatency, m.SocketP50ms, m.SocketP99ms}
		out.Requests += m.Requests
		out.Seconds += m.Seconds
		out.CPUSeconds += m.CPUSeconds
		out.LoadCPUSeconds += m.LoadCPUSeconds
		out.NotSent += m.NotSent
		for k, v := range m.Statuses {
			if out.Statuses == nil {
				out.Statuses = map[int]int64{}
			}
			out.Statuses[k] += v
		}
	}
	out.P50ms, out.P99ms = pooledQuantiles(latency)
	out.SocketP50ms, out.SocketP99ms = pooledQuantiles(socket)
	// CPU a request: each process's over every run's requests together.
	if out.Requests > 0 {
		for _, m := range runs {
			for k, v := range m.CPUPerRequest {
				if out.CPUPerRequest == nil {
					out.CPUPerRequest = map[string]float64{}
				}
				out.CPUPerRequest[k] += v * float64(m.Requests) / float64(out.Requests)
			}
		}
	}
	if out.Seconds > 0 {
		out.PerSecond = float64(out.Requests) / out.Seconds
		out.Busy = out.CPUSeconds / out.Seconds
	}
	if out.CPUSeconds > 0 {
		out.PerBusyCoreSecond = float64(out.Requests) / out.CPUSeconds
	}
	return out
}

// quantiles is one run's latencies: every request's, when it kept them,
// and its own p50 and p99 in ms.
type quantiles struct {
	hist     *loadgen.Hist
	p50, p99 float64
}

// pooledQuantiles is p50 and p99 over every request of the runs together.
// A run without its histogram (only percentiles, which cannot be pooled)
// makes them the median of the runs' own instead, over the runs that
// have any.
func pooledQuantiles(runs []quantiles) (p50, p99 float64) {
	var all loadgen.Hist
	var p50s, p99s []float64
	pooled := len(runs) > 0
	for _, r := range runs {
		if r.hist == nil {
			pooled = false
		} else {
			all.Merge(r.hist)
		}
		if r.p99 > 0 {
			p50s, p99s = append(p50s, r.p50), append(p99s, r.p99)
		}
	}
	if pooled {
		return ms(all.Quantile(0.5)), ms(all.Quantile(0.99))
	}
	return median(p50s), median(p99s)
}

// median is the middle value of xs (the mean of the middle two when
// their number is even), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// webhookTarget is a server the webhook load is sent to; name is its
// process's, as cpuNow names it.
type webhookTarget struct {
	name, url string
	ledger    *loadgen.Ledger
}

// webhooks measures conversions and bareinsert three times: as fast as
// CONNECTIONS deliveries in flight go (closed loop: the most each
// sustains; after a run of each not measured, webhookRounds alternating
// rounds of each, pooled, as for the redirect per core), then both at
// fixed rates (open loop: the latency at a rate): half bareinsert's most (the target's rate), and 80 % of conversions'
// most. Reporting is paused meanwhile, as for the redirect per core: the
// figure is the webhook path (signature, JSON, the statement, the relay to
// Kafka), and on two cores reporting writing the ledger of the events
// just accepted takes a core's share from it. Then, reporting resumed and
// caught up, conversions once more at the target's rate with reporting
// live.
func (b *bench) webhooks(ctx context.Context) error {
	roundDur := max(3*time.Second, b.cfg.duration/webhookRounds)
	b.phase("webhooks: conversions (signed, durable) and bareinsert (one INSERT per request), a warm-up and %d alternating rounds of %s each at %d in flight, then %s each at two fixed rates; reporting paused (SIGSTOP), then conversions once more with reporting live",
		webhookRounds, roundDur, b.cfg.connections, b.cfg.duration)
	pids := b.st.pids()
	conversions := webhookTarget{"conversions", "", b.ledger}
	targets := []webhookTarget{conversions,
		{"bareinsert", "http://" + b.insert + "/v1/webhooks/" + b.partners[0].ID, nil}}
	partner := b.partners[0].ID
	before, err := b.reportedConversions(ctx, partner)
	if err != nil {
		return err
	}
	resume, err := b.pauseReporting(ctx, pids["reporting"])
	if err != nil {
		return err
	}
	defer resume()
	var accepted int64 // by conversions while reporting is paused: each a new conversion
	// First a closed-loop run of each, not measured: a server's first
	// load on a fresh stack is slower (bareinsert's first 5 s ran at
	// about four fifths of its next ones: new backends, a new table), and
	// conversions has had the click phases' conversions already.
	for i, x := range targets {
		if i > 0 {
			if err := b.quiet(ctx, ""); err != nil {
				return err
			}
		}
		fmt.Fprintf(b.log, "   (warm-up, not measured)\n")
		m, err := b.webhookRun(ctx, x, 0, roundDur, fmt.Sprintf("%s-whwarm%d", b.run, i))
		if err != nil {
			return err
		}
		if i == 0 {
			accepted += m.Requests
		}
	}
	// Closed loop, in alternating rounds, each side first in turn: a
	// spell of the machine (a slow disk's flushes, another tenant) then
	// falls on both sides rather than on one.
	var subject, yardstick []measure
	for r := range webhookRounds {
		for i := range 2 {
			t := (i + r) % 2
			// Each run starts on a quiet stack (the relay done,
			// autovacuum and checkpoints of the one before over).
			if err := b.quiet(ctx, ""); err != nil {
				return err
			}
			m, err := b.webhookRun(ctx, targets[t], 0, roundDur, fmt.Sprintf("%s-wh0%d%d", b.run, t, r))
			if err != nil {
				return err
			}
			if t == 0 {
				subject = append(subject, m)
				accepted += m.Requests
			} else {
				yardstick = append(yardstick, m)
			}
		}
		b.out.WebhooksRounds = append(b.out.WebhooksRounds, pair{Subject: subject[r], Yardstick: yardstick[r]})
		fmt.Fprintf(b.log, "   round %d: %s\n", r+1, ratio(subject[r].PerSecond, yardstick[r].PerSecond))
	}
	b.out.Webhooks = pair{Subject: pooledMeasure(subject), Yardstick: pooledMeasure(yardstick)}
	steps := []struct {
		out  *pair
		rate float64
		set  *float64 // where the rate is recorded
	}{
		{&b.out.WebhooksAtTarget, 0.5 * b.out.Webhooks.Yardstick.PerSecond, &b.out.WebhooksTargetRate},
		{&b.out.WebhooksAtRate, 0.8 * b.out.Webhooks.Subject.PerSecond, &b.out.WebhooksRate},
	}
	for step, st := range steps {
		if st.rate < 1 {
			return nil
		}
		*st.set = st.rate
		for i, x := range targets {
			if err := b.quiet(ctx, ""); err != nil {
				return err
			}
			m, err := b.webhookRun(ctx, x, st.rate, b.cfg.duration, fmt.Sprintf("%s-wh%d%d", b.run, step+1, i))
			if err != nil {
				return err
			}
			if i == 0 {
				st.out.Subject = m
				accepted += m.Requests
			} else {
				st.out.Yardstick = m
			}
		}
	}
	// Reporting resumed, the live measurement waits until it holds every
	// conversion accepted meanwhile: the machine is quiet for a while
	// before that too, as its consumers rejoin their group.
	resume()
	start := time.Now()
	if err := b.waitReports(ctx, "conversions of "+partner, before+accepted, 500*time.Millisecond, func() (int64, error) {
		return b.reportedConversions(ctx, partner)
	}); err != nil {
		return err
	}
	if err := b.quiet(ctx, fmt.Sprintf("reporting resumed, held the %d conversions after %.1fs; ", accepted, time.Since(start).Seconds())); err != nil {
		return err
	}
	rates := liveRates(b.out.WebhooksTargetRate)
	if b.out.WebhooksLive, err = b.webhookRun(ctx, conversions, rates[0], b.cfg.duration, b.run+"-whlive"); err != nil {
		return err
	}
	// With reporting live the two cores carry the ledger as well, and the
	// rate above may be more than the stack sustains: step down until it
	// does, so the table says what this machine takes with everything on.
	m := b.out.WebhooksLive
	want := before + accepted // conversions the reports should hold: each request is a new one
	for i, rate := range rates {
		if i > 0 {
			if err := b.quiet(ctx, ""); err != nil {
				return err
			}
			if m, err = b.webhookRun(ctx, conversions, rate, b.cfg.duration, fmt.Sprintf("%s-whlive%d", b.run, i)); err != nil {
				return err
			}
		}
		want += m.Requests
		ok, why, err := b.sustained(ctx, partner, want, m, rate)
		if err != nil {
			return err
		}
		fmt.Fprintf(b.log, "   with reporting live at %.0f/s: %s\n", rate, why)
		if ok {
			b.out.WebhooksLiveSustained, b.out.WebhooksLiveSustainedRate = m, rate
			return nil
		}
	}
	return nil
}

// liveRates are the webhook rates tried with reporting live, from the
// target's down: liveOver times the target's rate, then 0.8, 0.64, 0.51
// and 0.41 of it.
func liveRates(target float64) []float64 {
	rates := []float64{liveOver * target, 0.8 * target}
	for len(rates) < 5 {
		rates = append(rates, 0.8*rates[len(rates)-1])
	}
	return rates
}

// liveOver is how far over the target's rate the first live run offers.
// A rate counts as sustained with up to 1 % of it left unsent (sustained),
// and what is left unsent is not acknowledged, so a run offered at the
// target's rate itself acknowledges less than it even when it passes,
// and the figure (acknowledged a second against bareinsert's most) could
// never reach the target. Offered 2 % over it, a run that passes has
// acknowledged at least the target's rate. Before 2026-12-05, 03:25 UTC
// the first run offered the target's rate.
const liveOver = 1.02

// liveP99 is the p99 a webhook rate must keep to count as sustained.
const liveP99 = 50.0 // ms

// sustained says whether the stack sustained a webhook load m offered at
// rate with reporting live: every answer a 2xx, p99 under liveP99 (each
// latency counted from when its delivery fell due, so a stall shows in
// every delivery it held back: since 2026-12-05, 10:55 UTC; before, from
// when one of loadgen's 64 workers sent it, and what fell due while all
// were busy was dropped as unsent), nearly every request sent (at most 1 %
// of what fell due in the run not sent by its end), and the reports holding every accepted
// conversion (want of partner's) within 5 s of the load's end: reporting
// kept up.
func (b *bench) sustained(ctx context.Context, partner string, want int64, m measure, rate float64) (bool, string, error) {
	offered := rate * m.Seconds
	switch {
	case all2xx(m.Statuses) != "all 2xx":
		return false, "not every answer a 2xx", nil
	case m.P99ms >= liveP99:
		return false, fmt.Sprintf("p99 %.1f ms", m.P99ms), nil
	case float64(m.NotSent) > 0.01*offered:
		return false, fmt.Sprintf("%d of %.0f not sent", m.NotSent, offered), nil
	}
	start := time.Now()
	n, ok, err := pollReports(ctx, want, 250*time.Millisecond, 5*time.Second, func() (int64, error) { return b.reportedConversions(ctx, partner) }, nil)
	switch {
	case err != nil:
		return false, "", err
	case !ok:
		return false, fmt.Sprintf("p99 %.1f ms, but the reports held %d of %d conversions 5 s after", m.P99ms, n, want), nil
	}
	return true, fmt.Sprintf("sustained (p99 %.1f ms, the reports held every conversion %.1fs after)", m.P99ms, time.Since(start).Seconds()), nil
}

// webhookRun sends one webhook load of dur to x, at rate per second (0:
// closed loop), and measures it.
func (b *bench) webhookRun(ctx context.Context, x webhookTarget, rate float64, dur time.Duration, runID string) (measure, error) {
	before := b.cpuNow(ctx)
	res, err := loadgen.WebhookLoad{Stack: b.stack, Partner: b.partners[0], URL: x.url, RunID: runID,
		Rate: rate, Concurrency: b.cfg.connections, Duration: dur, Ledger: x.ledger}.Run(ctx)
	if err != nil {
		return measure{}, err
	}
	used := b.cpuNow(ctx).since(before)
	m := measure{PerSecond: res.Rate(), P50ms: ms(res.Latency.Quantile(0.5)), P99ms: ms(res.Latency.Quantile(0.99)),
		Requests: res.Acked, Seconds: res.Elapsed.Seconds(), CPUSeconds: used[x.name], Statuses: res.Statuses, NotSent: res.NotSent,
		CPUPerRequest: perRequest(used, res.Acked), latency: &res.Latency}
	if m.CPUSeconds > 0 {
		m.PerBusyCoreSecond, m.Busy = float64(res.Acked)/m.CPUSeconds, m.CPUSeconds/m.Seconds
	}
	how := "closed loop"
	if rate > 0 {
		how = fmt.Sprintf("offered %.0f/s", rate)
	}
	fmt.Fprintf(b.log, "   %s (%s): %.0f/s acknowledged, p50 %.2f ms, p99 %.2f ms, statuses %v, no answer %d, not sent %d; CPU µs a request: %s\n",
		x.name, how, m.PerSecond, m.P50ms, m.P99ms, res.Statuses, res.NoAnswer, res.NotSent, cpuLine(m.CPUPerRequest))
	return m, nil
}

// settle waits until the reports hold every click the run has had
// acknowledged so far, then until the machine is quiet.
func (b *bench) settle(ctx context.Context) error {
	want, _, _, _ := b.ledger.Counts()
	if want == 0 {
		return b.quiet(ctx, "")
	}
	partners := b.partnerIDs()
	start := time.Now()
	if err := b.waitReports(ctx, "clicks", int64(want), 500*time.Millisecond, func() (int64, error) { return b.reportedClicks(ctx, partners) }); err != nil {
		return err
	}
	return b.quiet(ctx, fmt.Sprintf("reporting held all %d clicks after %.1fs; ", want, time.Since(start).Seconds()))
}

// waitReports polls count every interval until it reaches want, for at
// most 5 minutes; what names what is counted. Most such waits take
// 13-36 s; one past a minute logs what reporting's sessions are doing,
// then and again on giving up. The slow catch-ups of issue 15 were one
// consumer's statement running for minutes, which pg_stat_activity shows
// at once.
//
// A count that stops short for reportStall is lost or stuck, not slow:
// the wait ends there with loadgen's comparison of every cell, which
// names what is missing (a click skipped by the shipper, a conversion the
// relay dropped), instead of running into the caller's deadline with a
// bare count (a helper's mutations of issue 15 failed make test by
// timeout, the cause only in the log).
func (b *bench) waitReports(ctx context.Context, what string, want int64, interval time.Duration, count func() (int64, error)) error {
	progress := &reportProgress{last: -1, moved: time.Now()}
	n, ok, err := pollReports(ctx, want, interval, time.Minute, count, progress)
	if err != nil || ok {
		return err
	}
	b.logReportingSessions(ctx, fmt.Sprintf("the reports hold %d of at least %d %s after %.0f s", n, want, what, time.Since(progress.began).Seconds()))
	if n, ok, err = pollReports(ctx, want, interval, 4*time.Minute, count, progress); err != nil || ok {
		return err
	}
	b.logReportingSessions(ctx, "at the end of the wait")
	return fmt.Errorf("reports hold %d of at least %d %s, and did not move for %s or the wait ended: %s", n, want, what,
		reportStall, b.cells(ctx))
}

// reportStall is how long a count of what the reports hold may stay
// short without moving before waitReports gives up on it: catching up
// moves it every few seconds.
const reportStall = 45 * time.Second

// cells is loadgen's comparison of every cell of the ledger with the
// reports, as the final reconciliation makes it.
func (b *bench) cells(ctx context.Context) string {
	x := b.ledger.Expected()
	o, err := loadgen.Observe(ctx, b.stack, x)
	if err != nil {
		return "the reports could not be read: " + err.Error()
	}
	return loadgen.Compare(x, o).String()
}

// reportingSessionsSQL lists reporting's sessions that are not idle: what
// each runs, for how long, and what it waits for.
const reportingSessionsSQL = `SELECT pid || ' ' || state || ', ' || coalesce(wait_event_type || ':' || wait_event, 'no wait event')
	|| ', for ' || round(extract(epoch FROM now() - query_start)::numeric, 1) || ' s: '
	|| left(regexp_replace(query, '\s+', ' ', 'g'), 160)
	FROM pg_stat_activity WHERE usename = 'linkcredit_reporting' AND state <> 'idle' ORDER BY query_start`

// logReportingSessions writes why and reportingSessionsSQL's answer to the
// bench's log.
func (b *bench) logReportingSessions(ctx context.Context, why string) {
	out, err := b.psql(ctx, reportingSessionsSQL)
	if err != nil {
		out = err.Error()
	}
	if out == "" {
		out = "none"
	}
	fmt.Fprintf(b.log, "   (%s; reporting's sessions that are not idle:\n      %s)\n", why, strings.ReplaceAll(out, "\n", "\n      "))
}

// reportProgress is what pollReports keeps across its calls: the last
// count, when it last moved, and when the first call began.
type reportProgress struct {
	last         int64
	moved, began time.Time
}

// pollReports polls count every interval until it reaches want or within
// has passed (or, with p, the count has stayed as it was for reportStall,
// counted across calls), and returns the last count and whether it
// reached want. Only ctx ending is an error; a failed count is polled
// again, and is no stall (the reports may be slow to answer on a busy
// machine).
func pollReports(ctx context.Context, want int64, interval, within time.Duration, count func() (int64, error), p *reportProgress) (int64, bool, error) {
	if p != nil && p.began.IsZero() {
		p.began = time.Now()
	}
	for deadline := time.Now().Add(within); ; {
		n, err := count()
		if err == nil && n >= want {
			return n, true, nil
		}
		if p != nil && (err != nil || n != p.last) {
			if err == nil {
				p.last = n
			}
			p.moved = time.Now()
		}
		if time.Now().After(deadline) || p != nil && time.Since(p.moved) > reportStall {
			return n, false, nil
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return n, false, err
		}
	}
}

// quiet waits for the work the part before left behind (reporting
// catching up, rollup compaction, autovacuum, a checkpoint) until the
// machine is quiet, for at most a minute. what says what was waited for
// before.
func (b *bench) quiet(ctx context.Context, what string) error {
	start := time.Now()
	busy := 1.0
	for quiet := time.Now().Add(b.cfg.quietWait); busy > quietBusy && time.Now().Before(quiet) && ctx.Err() == nil; {
		var err error
		if busy, err = machineBusy(time.Second); err != nil {
			return err
		}
	}
	fmt.Fprintf(b.log, "   (settled in %.1fs: %smachine %.0f %% busy)\n", time.Since(start).Seconds(), what, 100*busy)
	return ctx.Err()
}

// quietBusy is the share of the machine's CPU below which the stack counts
// as quiet between two parts of the bench.
const quietBusy = 0.1

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// partnerIDs is the set of the run's main partners (not the delay
// phase's).
func (b *bench) partnerIDs() map[string]bool {
	ids := make(map[string]bool, len(b.partners))
	for _, p := range b.partners {
		ids[p.ID] = true
	}
	return ids
}

// reportedConversions is the conversions the reports hold for partner,
// today and around it (UTC), in every currency.
func (b *bench) reportedConversions(ctx context.Context, partner string) (int64, error) {
	rows, err := b.reportByPartner(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range rows {
		if p, _ := r["partner"].(string); p == partner {
			c, _ := r["conversions"].(float64)
			n += int64(c)
		}
	}
	return n, nil
}

// reportByPartner is the commissions report by partner (one row per
// partner and currency), today and around it (UTC).
func (b *bench) reportByPartner(ctx context.Context) ([]map[string]any, error) {
	now := time.Now().UTC()
	return b.stack.Report(ctx, url.Values{"from": {now.AddDate(0, 0, -1).Format(time.DateOnly)},
		"to": {now.AddDate(0, 0, 2).Format(time.DateOnly)}, "tz": {"UTC"}, "group_by": {"partner"}})
}

// reportedClicks is clicks + bot clicks the reports hold for the run's
// partners, today and around it (UTC).
func (b *bench) reportedClicks(ctx context.Context, partners map[string]bool) (int64, error) {
	rows, err := b.reportByPartner(ctx)
	if err != nil {
		return 0, err
	}
	per := map[string]int64{} // one row per currency, each with the partner's clicks
	for _, r := range rows {
		p, _ := r["partner"].(string)
		if !partners[p] {
			continue
		}
		c, _ := r["clicks"].(float64)
		bc, _ := r["bot_clicks"].(float64)
		per[p] = max(per[p], int64(c+bc))
	}
	var n int64
	for _, v := range per {
		n += v
	}
	return n, nil
}

func (b *bench) unshipped(ctx context.Context) (float64, error) {
	return b.metricSum(ctx, b.stack.Redirect, "redirect_clicklog_unshipped_bytes")
}

// clicksHandled is how many clicks.v1 messages reporting's consumers
// have stored (counted once a batch's transaction has committed, before
// its offsets are committed to Kafka; a redelivered message counts
// again).
func (b *bench) clicksHandled(ctx context.Context) (float64, error) {
	return b.metricSum(ctx, b.stack.Reporting, "kafkax_consumer_messages_total", `outcome="handled"`, `topic="clicks.v1"`)
}

// metricSum sums the samples of metric on base's /metrics whose labels
// hold every one of labels.
func (b *bench) metricSum(ctx context.Context, base, metric string, labels ...string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := b.stack.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	found := false
lines:
	for _, line := range splitLines(string(body)) {
		if !strings.HasPrefix(line, metric+" ") && !strings.HasPrefix(line, metric+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
		found = true
	}
	if !found && len(labels) == 0 {
		return 0, fmt.Errorf("%s is not in %s/metrics", metric, base)
	}
	return total, nil
}

func (b *bench) ingest(ctx context.Context) error {
	pids := b.st.pids()
	reporting := pids["reporting"]
	partners := b.partnerIDs()
	b.phase("ingest: reporting paused (SIGSTOP) while %d clicks go through the redirect to clicks.v1", b.cfg.ingestClicks)
	handledBefore, err := b.clicksHandled(ctx) // before the pause: a stopped process does not answer
	if err != nil {
		return err
	}
	resume, err := b.pauseReporting(ctx, reporting)
	if err != nil {
		return err
	}
	defer resume()
	cfg := b.clickConfig("ingest", 0)
	cfg.Duration, cfg.MaxClicks = 0, b.cfg.ingestClicks
	phaseStart := time.Now().UTC()
	res := loadgen.NewRunner(b.stack, cfg).Clicks(ctx)
	phaseEnd := time.Now().UTC()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		n, err := b.unshipped(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the redirect still has %.0f bytes of clicks to ship after 2 minutes", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	want, _, _, _ := b.ledger.Counts()
	// Clicks of the delay partner are not in the partners asked for; all
	// acknowledged clicks so far are the main partners'.
	fmt.Fprintf(b.log, "   %d clicks on clicks.v1; reporting resumed, waiting for all %d of the run in the reports\n", res.Acked, want)
	cpuBefore := b.cpuNow(ctx)
	resume()
	start := time.Now()
	// The first stored batch is seen on reporting's consumer counter,
	// polled every 50 ms: a report is not cheap with 10,000 links (0.1-0.2
	// s of PostgreSQL), and polled every 500 ms the reports took a third
	// of PostgreSQL's CPU from the ingest they measured. Once the counter
	// says every click was stored, the report is polled until it holds
	// them all (a redelivered click counts twice on the counter, once in
	// the report): that poll ends the measurement.
	var first time.Time
	var atFirst, handled float64
	for deadline := start.Add(5 * time.Minute); ; {
		n, err := b.clicksHandled(ctx)
		if err != nil {
			return err
		}
		if first.IsZero() && n > handledBefore {
			first, atFirst = time.Now(), n-handledBefore
		}
		if n-handledBefore >= float64(res.Acked) {
			handled = n - handledBefore
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reporting stored %.0f of the phase's %d clicks after 5 minutes", n-handledBefore, res.Acked)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.waitReports(ctx, "clicks", int64(want), 100*time.Millisecond, func() (int64, error) { return b.reportedClicks(ctx, partners) }); err != nil {
		return err
	}
	elapsed := time.Since(start)
	in := &b.out.Ingest
	in.CPUPerClick = b.cpuPerClick(ctx, cpuBefore, res.Acked)
	// Reports read the rollups and the deltas ingest appends, and the
	// compactor folds the deltas into the rollups in the background, less
	// often while it has a backlog: the figure above leaves out the
	// folding of this phase's clicks, so its CPU is counted here too.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		n, err := b.psql(ctx, "SELECT count(*) FROM reporting.click_rollup_deltas")
		if err != nil {
			return err
		}
		if n == "0" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s click rollup deltas are still to fold after 2 minutes", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	in.FoldedAfterSec = time.Since(start).Seconds()
	in.CPUPerClickFolded = b.cpuPerClick(ctx, cpuBefore, res.Acked)
	in.Clicks, in.PerSecondWithWait = res.Acked, float64(res.Acked)/elapsed.Seconds()
	// From the first poll that saw clicks stored to the end; the clicks
	// stored by then are not counted, as the time they took is not.
	in.PerSecond = in.PerSecondWithWait
	if !first.IsZero() {
		in.FirstWaitSec = first.Sub(start).Seconds()
		if atFirst < float64(res.Acked) { // else one batch held them all: the figure with the wait stands
			in.PerSecond = (float64(res.Acked) - atFirst) / (elapsed - first.Sub(start)).Seconds()
		}
	}
	in.StoredTwice = int64(handled) - res.Acked
	fmt.Fprintf(b.log, "   reporting ingested %d clicks in %.1fs after resuming: first rows after %.1fs, then %.0f/s (%.0f/s with the wait); %d handed to it again after it stored them\n",
		res.Acked, elapsed.Seconds(), in.FirstWaitSec, in.PerSecond, in.PerSecondWithWait, in.StoredTwice)

	// The same rows, with a plain COPY into a table like reporting's.
	rows, secs, err := b.copySame(ctx, phaseStart.Add(-time.Second), phaseEnd.Add(time.Second))
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	in.CopyRows, in.CopyPerSecond = rows, float64(rows)/secs
	fmt.Fprintf(b.log, "   COPY of the same %d rows into a table like reporting.clicks: %.2fs, %.0f rows/s\n", rows, secs, in.CopyPerSecond)
	return nil
}

// psql runs sql in the stack's database and returns its output, trimmed.
func (b *bench) psql(ctx context.Context, sql string) (string, error) {
	out, err := exec.CommandContext(ctx, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", b.st.postgresURL, "-c", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %v: %s", sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// copySame exports the clicks reporting stored for the ingest phase and
// times a COPY of them into a fresh table with the same columns and
// primary key, in the same PostgreSQL.
func (b *bench) copySame(ctx context.Context, from, to time.Time) (int64, float64, error) {
	file := filepath.Join(b.st.dataDir, "ingest-rows.csv")
	sel := fmt.Sprintf("SELECT * FROM reporting.clicks WHERE occurred_at >= '%s' AND occurred_at < '%s'",
		from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	if _, err := b.psql(ctx, fmt.Sprintf(`\copy (%s) TO '%s'`, sel, file)); err != nil {
		return 0, 0, err
	}
	if _, err := b.psql(ctx, `DROP SCHEMA IF EXISTS bench_copy CASCADE; CREATE SCHEMA bench_copy;
		CREATE TABLE bench_copy.clicks (LIKE reporting.clicks INCLUDING DEFAULTS); ALTER TABLE bench_copy.clicks ADD PRIMARY KEY (id, occurred_at)`); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if _, err := b.psql(ctx, fmt.Sprintf(`\copy bench_copy.clicks FROM '%s'`, file)); err != nil {
		return 0, 0, err
	}
	secs := time.Since(start).Seconds()
	n, err := b.psql(ctx, "SELECT count(*) FROM bench_copy.clicks")
	if err != nil {
		return 0, 0, err
	}
	rows, _ := strconv.ParseInt(n, 10, 64)
	return rows, secs, nil
}

func (b *bench) delay(ctx context.Context) error {
	const rate = 200
	partner := loadgen.Partner{ID: b.run + "-delay", Name: "delay", Currency: "USD", Secret: loadgen.NewSecret(), Token: "tok_" + b.run + "_delay_postback"}
	links := loadgen.GenerateLinks(b.run+"-d", 20, []loadgen.Partner{partner})
	b.phase("click to report: %d clicks/s for %s over 20 links of one partner, 5 %% converting; the report polled every 50 ms", rate, b.cfg.duration)
	var mu sync.Mutex
	var acked []time.Time
	cfg := b.clickConfig("delay", 0.05)
	cfg.LinkSet, cfg.Partners, cfg.Rate, cfg.Concurrency = links, []loadgen.Partner{partner}, rate, 16
	cfg.OnAck = func(_ loadgen.ClickAck, at time.Time) {
		mu.Lock()
		acked = append(acked, at)
		mu.Unlock()
	}
	r := loadgen.NewRunner(b.stack, cfg)
	if err := r.Setup(ctx); err != nil {
		return err
	}
	type seen struct {
		at time.Time
		n  int64
	}
	var polls []seen
	var answered loadgen.Hist // how long each poll's report took
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		only := map[string]bool{partner.ID: true}
		for {
			asked := time.Now()
			n, err := b.reportedClicks(ctx, only)
			if err == nil {
				polls = append(polls, seen{time.Now(), n})
				answered.Add(time.Since(asked))
			}
			select {
			case <-done:
				mu.Lock()
				total := int64(len(acked))
				mu.Unlock()
				if err == nil && n >= total || ctx.Err() != nil {
					return
				}
			default:
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	res := r.Clicks(ctx)
	close(done)
	select {
	case <-polled:
	case <-time.After(2 * time.Minute):
		return errors.New("the report did not show the clicks within 2 minutes")
	}
	slices.SortFunc(acked, func(a, b time.Time) int { return a.Compare(b) })
	var h loadgen.Hist
	j := 0
	for i, at := range acked {
		for j < len(polls) && polls[j].n < int64(i+1) {
			j++
		}
		if j == len(polls) {
			break
		}
		h.Add(polls[j].at.Sub(at))
	}
	d := &b.out.Delay
	d.Clicks, d.Rate, d.P50ms, d.P99ms, d.PollMs = int(res.Acked), rate, ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), 50
	d.ReportP50ms, d.ReportP99ms = ms(answered.Quantile(0.5)), ms(answered.Quantile(0.99))
	fmt.Fprintf(b.log, "   %d clicks: click to report p50 %.0f ms, p99 %.0f ms; the report answered in %.0f / %.0f ms (p50 / p99, %d polls)\n",
		res.Acked, d.P50ms, d.P99ms, d.ReportP50ms, d.ReportP99ms, answered.Count())
	return nil
}

// cpuPerClick is each process's CPU time since before in µs for each of
// clicks, PostgreSQL's as one ("postgres": the postmaster and every
// process of it, the closed backends' too).
func (b *bench) cpuPerClick(ctx context.Context, before cpuSnapshot, clicks int64) map[string]float64 {
	out := map[string]float64{}
	for owner, us := range perRequest(b.cpuNow(ctx).since(before), clicks) {
		if strings.HasPrefix(owner, "postgres: ") {
			owner = "postgres"
		}
		out[owner] += us
	}
	return out
}

func (b *bench) memory() {
	b.out.Memory = map[string]memory{}
	pids := b.st.pids()
	for name, pid := range pids {
		m := memoryOf(pid)
		if name == "postgres" { // the postmaster and every backend, shared buffers once
			m = memory{}
			for _, p := range append(descendants(pid), pid) {
				x := memoryOf(p)
				m.PSS += x.PSS
				m.RSS = max(m.RSS, x.RSS)
				m.Peak = max(m.Peak, x.Peak)
			}
		}
		b.out.Memory[name] = m
	}
	b.out.Memory["bare302"] = memoryOf(b.extras[0].Process.Pid)
	b.out.Memory["bareinsert"] = memoryOf(b.extras[1].Process.Pid)
	b.out.Memory["loadgen (benchrun)"] = memoryOf(os.Getpid())
}
