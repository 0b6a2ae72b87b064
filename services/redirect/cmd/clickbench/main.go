// Command clickbench drives a running redirect (or the bare 302 server)
// on loopback with realistic click traffic (internal/traffic: many links,
// thousands of distinct user agents, a share of crawlers, visitors from
// many networks) and reports requests per second, latency percentiles and,
// for each -pid, the CPU the process used: its requests per busy
// core-second, the figure issue 15 asks for when the server runs pinned
// to a core of its own (taskset).
//
//	clickbench -url http://127.0.0.1:8080 -setup -pid $(pgrep -n redirect) -duration 15s
//
// It speaks HTTP/1.1 over raw keep-alive connections, closed loop (each
// connection sends its next request when the answer came), so that the
// load tool itself costs little CPU: like wrk, not like net/http's client.
// -setup imports the mix's links first (ADMIN_TOKEN from the environment).
// Requests carry X-Forwarded-For with the visitor's address: run the
// redirect with TRUSTED_PROXIES=127.0.0.1/32, as behind a load balancer.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkcredit/linkcredit/services/redirect/internal/traffic"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "clickbench:", err)
		os.Exit(1)
	}
}

type options struct {
	base     *url.URL
	conns    int
	duration time.Duration
	warmup   time.Duration
	pids     []int
	mix      traffic.Mix
	setup    bool
	jsonOut  bool
	label    string
	rate     float64
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("clickbench", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server to drive")
	o := options{}
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections, each closed loop")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "measured time")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "load before measuring")
	pids := fs.String("pid", "", "comma-separated process ids whose CPU to measure")
	fs.IntVar(&o.mix.Links, "links", 10_000, "links c0..c<n-1>")
	fs.IntVar(&o.mix.Agents, "agents", 5_000, "distinct browser user agents")
	fs.Float64Var(&o.mix.BotShare, "bots", 0.02, "share of crawler and unfurler clicks")
	fs.BoolVar(&o.setup, "setup", false, "import the links first (ADMIN_TOKEN)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as one JSON line")
	fs.StringVar(&o.label, "label", "", "name of the run in the output")
	fs.Float64Var(&o.rate, "rate", 0, "requests per second offered in all (open loop, latency from the intended send time); 0 is as fast as answered")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url: want http://host:port, got %q", *base)
	}
	o.base = u
	for _, p := range strings.FieldsFunc(*pids, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("-pid %q: %w", p, err)
		}
		o.pids = append(o.pids, n)
	}
	if o.setup {
		if err := importLinks(ctx, u, getenv("ADMIN_TOKEN"), o.mix.Links); err != nil {
			return err
		}
	}
	res, err := load(ctx, o)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return json.NewEncoder(out).Encode(res)
	}
	res.print(out)
	return nil
}

// importLinks upserts links c0..c<n-1> through POST /v1/links:import.
func importLinks(ctx context.Context, base *url.URL, token string, n int) error {
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"code":%q,"partner":"coursera","course_id":"course-%d","title":"Course %d","destination":"https://www.coursera.org/learn/course-%d?clickid={click_id}&utm_source=linkcredit"}`+"\n",
			traffic.Code(i), i, i, i)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("/v1/links:import").String(), &body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("import links: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("import links: %s: %s", resp.Status, b)
	}
	// The redirect's table catches up from the store on a notification;
	// wait until the last link answers.
	for range 100 {
		r, err := http.NewRequestWithContext(ctx, http.MethodHead, base.JoinPath("/c/"+traffic.Code(n-1)).String(), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusFound {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("import links: the last link does not answer 302")
}

// Result is one run's figures.
type Result struct {
	Label     string         `json:"label,omitempty"`
	Seconds   float64        `json:"seconds"`
	Requests  int64          `json:"requests"`
	RPS       float64        `json:"rps"`
	Statuses  map[int]int64  `json:"statuses"`
	Errors    int64          `json:"errors"`
	P50ms     float64        `json:"p50_ms"`
	P90ms     float64        `json:"p90_ms"`
	P99ms     float64        `json:"p99_ms"`
	MaxMs     float64        `json:"max_ms"`
	Processes []ProcessUsage `json:"processes,omitempty"`
	// CoreBusy is each core's busy share over the window (/proc/stat),
	// whoever used it: on a shared machine, what the measured processes
	// competed with.
	CoreBusy    []float64 `json:"core_busy"`
	LoadCPUSecs float64   `json:"loadgen_cpu_seconds"`
}

// ProcessUsage is what one measured process spent.
type ProcessUsage struct {
	PID int `json:"pid"`
	// CPUSeconds is user+system time over the measured window;
	// Busy is that over the window's wall time (1 = one core saturated).
	CPUSeconds float64 `json:"cpu_seconds"`
	Busy       float64 `json:"busy"`
	// PerBusyCoreSecond is requests answered per second of its CPU.
	PerBusyCoreSecond float64 `json:"requests_per_busy_core_second"`
	// MicrosPerRequest is CPU per request.
	MicrosPerRequest float64 `json:"cpu_us_per_request"`
	RSSKiB           int64   `json:"rss_kib"`
}

func (r Result) print(w io.Writer) {
	fmt.Fprintf(w, "%s %.0f req/s over %.1fs (%d requests, %d errors), statuses %v\n", r.Label, r.RPS, r.Seconds, r.Requests, r.Errors, r.Statuses)
	fmt.Fprintf(w, "%s latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.Label, r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	for _, p := range r.Processes {
		fmt.Fprintf(w, "%s pid %d: %.2f CPU-s, core busy %.0f%%, %.0f req per busy core-second, %.1f µs CPU per request, RSS %d MiB\n",
			r.Label, p.PID, p.CPUSeconds, 100*p.Busy, p.PerBusyCoreSecond, p.MicrosPerRequest, p.RSSKiB>>10)
	}
	fmt.Fprintf(w, "%s load tool: %.2f CPU-s; cores busy", r.Label, r.LoadCPUSecs)
	for i, b := range r.CoreBusy {
		fmt.Fprintf(w, " cpu%d %.0f%%", i, 100*b)
	}
	fmt.Fprintln(w)
}

type worker struct {
	lat      []time.Duration
	statuses map[int]int64
	errors   int64
}

func load(ctx context.Context, o options) (Result, error) {
	var measuring, stopped atomic.Bool
	src := traffic.NewSource(o.mix) // before the clock starts: building it takes a while
	workers := make([]*worker, o.conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{statuses: map[int]int64{}, lat: make([]time.Duration, 0, 1<<16)}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(o, src.Generator(uint64(i)+1), time.Duration(float64(i)*float64(time.Second)/max(o.rate, 1)), &measuring, &stopped)
		}()
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.warmup):
	}
	before := make([]cpu, len(o.pids))
	for i, p := range o.pids {
		before[i] = readCPU(p)
	}
	selfBefore := readCPU(os.Getpid())
	coresBefore := readCores()
	start := time.Now()
	measuring.Store(true)
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	after := make([]cpu, len(o.pids))
	for i, p := range o.pids {
		after[i] = readCPU(p)
	}
	selfAfter := readCPU(os.Getpid())
	coresAfter := readCores()
	stopped.Store(true)
	wg.Wait()

	res := Result{Label: o.label, Seconds: elapsed.Seconds(), Statuses: map[int]int64{}}
	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
		for s, n := range w.statuses {
			res.Statuses[s] += n
		}
		res.Errors += w.errors
	}
	res.Requests = int64(len(lat))
	res.RPS = float64(res.Requests) / elapsed.Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = pct(0.50), pct(0.90), pct(0.99), pct(1)
	for i, p := range o.pids {
		secs := after[i].seconds - before[i].seconds
		u := ProcessUsage{PID: p, CPUSeconds: secs, Busy: secs / elapsed.Seconds(), RSSKiB: after[i].rssKiB}
		if secs > 0 {
			u.PerBusyCoreSecond = float64(res.Requests) / secs
		}
		if res.Requests > 0 {
			u.MicrosPerRequest = secs * 1e6 / float64(res.Requests)
		}
		res.Processes = append(res.Processes, u)
	}
	res.LoadCPUSecs = selfAfter.seconds - selfBefore.seconds
	for i := range min(len(coresBefore), len(coresAfter)) {
		busy, total := coresAfter[i][0]-coresBefore[i][0], coresAfter[i][1]-coresBefore[i][1]
		if total > 0 {
			res.CoreBusy = append(res.CoreBusy, busy/total)
		}
	}
	return res, nil
}

// run keeps one connection busy until stopped, redialling after errors.
func (w *worker) run(o options, gen *traffic.Generator, offset time.Duration, measuring, stopped *atomic.Bool) {
	// With a rate, each connection sends on a schedule (its share of the
	// rate, staggered) and a request's latency counts from when it was
	// due, so a slow answer delays the next ones and shows in their
	// latency too (no coordinated omission).
	var every time.Duration
	next := time.Now().Add(offset)
	if o.rate > 0 {
		every = time.Duration(float64(time.Second) * float64(o.conns) / o.rate)
	}
	host := o.base.Host
	var conn net.Conn
	var br *bufio.Reader
	req := make([]byte, 0, 2048)
	for !stopped.Load() {
		if conn == nil {
			c, err := net.Dial("tcp", host)
			if err != nil {
				w.errors++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		click := gen.Next()
		req = appendRequest(req[:0], host, click)
		t0 := time.Now()
		if every > 0 {
			if wait := time.Until(next); wait > 0 {
				time.Sleep(wait)
			}
			t0 = next
			next = next.Add(every)
		}
		status, err := roundTrip(conn, br, req)
		d := time.Since(t0)
		if err != nil {
			conn.Close()
			conn = nil
			if measuring.Load() {
				w.errors++
			}
			continue
		}
		if measuring.Load() {
			w.lat = append(w.lat, d)
			w.statuses[status]++
		}
	}
	if conn != nil {
		conn.Close()
	}
}

// appendRequest writes the request a browser sends for a click, with the
// headers that matter to the server's parsing cost.
func appendRequest(b []byte, host string, c traffic.Click) []byte {
	b = append(b, "GET "...)
	b = append(b, c.Target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, c.UserAgent...)
	b = append(b, "\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n"...)
	if c.Referer != "" {
		b = append(b, "Referer: "...)
		b = append(b, c.Referer...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Forwarded-For: "...)
	b = c.IP.AppendTo(b)
	return append(b, "\r\n\r\n"...)
}

var errBadResponse = errors.New("malformed response")

// roundTrip writes req and reads one response, discarding its body.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (int, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, errBadResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, errBadResponse
	}
	length, closeAfter := 0, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "Content-Length"):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, errBadResponse
			}
		case asciiEqualFold(k, "Connection"):
			closeAfter = asciiEqualFold(v, "close")
		case asciiEqualFold(k, "Transfer-Encoding"):
			return 0, errors.New("chunked responses are not supported")
		}
	}
	if _, err := br.Discard(length); err != nil {
		return 0, err
	}
	if closeAfter {
		return status, io.EOF
	}
	return status, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i]|0x20, s[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

type cpu struct {
	seconds float64
	rssKiB  int64
}

// readCPU reads a process's user+system time from /proc/<pid>/stat (all
// its threads) and its resident set from /proc/<pid>/status.
func readCPU(pid int) cpu {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cpu{}
	}
	// The command name may hold spaces: fields start after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpu{}
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return cpu{}
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	c := cpu{seconds: (utime + stime) / clockTicks}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				c.rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	return c
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// readCores returns, per core, busy and total jiffies from /proc/stat.
func readCores() [][2]float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out [][2]float64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var busy, total float64
		for i, v := range f[1:] {
			n, _ := strconv.ParseFloat(v, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		out = append(out, [2]float64{busy, total})
	}
	return out
}
