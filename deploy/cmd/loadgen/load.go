package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/linkcredit/linkcredit/deploy/loadgen"
)

func runLoad(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs, getenv)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Run, "run", "", "run id: prefix of link codes, partners and order ids (default lg<time>)")
	fs.IntVar(&cfg.Links, "links", 10000, "links to create")
	fs.Float64Var(&cfg.Rate, "rate", 0, "clicks per second (open loop); 0 as fast as -c workers go")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to send clicks")
	fs.Int64Var(&cfg.MaxClicks, "clicks", 0, "stop after this many click requests (0: -duration decides)")
	fs.IntVar(&cfg.Concurrency, "c", 32, "click requests in flight")
	fs.IntVar(&cfg.UserAgents, "uas", 5000, "distinct browser user agents")
	fs.Float64Var(&cfg.Crawlers, "crawlers", 0.015, "share of clicks from crawlers")
	fs.Float64Var(&cfg.Unfurlers, "unfurlers", 0.005, "share of clicks from link unfurlers")
	fs.Float64Var(&cfg.Heads, "heads", 0.01, "share of HEAD requests")
	fs.Float64Var(&cfg.ConversionShare, "conversion-share", 0.02, "share of human clicks that convert")
	fs.DurationVar(&cfg.Backdate, "backdate", 0, "spread purchase times over this past period (e.g. 720h)")
	fs.DurationVar(&cfg.RetryFor, "retry-for", 2*time.Minute, "how long a conversion event is retried before it is left in doubt")
	fs.BoolVar(&cfg.SourceIPs, "source-ips", true, "connect from many 127.x.y.z addresses, as visitors from many networks")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock)")
	reconcile := fs.Bool("reconcile", true, "check the reports against what was acknowledged")
	reconcileTimeout := fs.Duration("reconcile-timeout", 2*time.Minute, "how long the reports may take to catch up")
	record := fs.String("record", "", "write every acknowledged click id and conversion event here (NDJSON)")
	jsonOut := fs.String("json", "", "write the result as JSON here")
	quiet := fs.Bool("q", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token, err := sf.adminToken()
	if err != nil {
		return err
	}
	stack, err := loadgen.NewStack(sf.redirect, sf.conversions, sf.reporting, token)
	if err != nil {
		return err
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	r := loadgen.NewRunner(stack, cfg)
	cfg = r.Config()
	fmt.Fprintf(stdout, "run %s: %d links, %d partners, %d user agents\n", cfg.Run, len(r.Links()), len(cfg.Partners), cfg.UserAgents)
	if err := r.Setup(ctx); err != nil {
		return err
	}
	res := r.Clicks(ctx)
	printResult(stdout, res)
	out := resultJSON(cfg.Run, res)
	if *record != "" {
		if err := writeRecord(*record, r.Ledger); err != nil {
			return err
		}
	}
	var verdict loadgen.Verdict
	if *reconcile {
		verdict, err = loadgen.Reconcile(ctx, stack, r.Ledger, *reconcileTimeout)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		fmt.Fprintln(stdout, verdict)
		out["reconciled"], out["differences"] = verdict.OK(), verdict.Diffs
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(out, "", "  ") // plain values always marshal
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *reconcile && !verdict.OK() {
		return fmt.Errorf("the reports differ from what the stack acknowledged")
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printResult(w io.Writer, res *loadgen.Result) {
	fmt.Fprintf(w, "clicks: %d sent in %.1fs, %d acknowledged (%.0f/s), %d HEAD, %d bot user agents, %d without answer, %d fell due and not sent by the end; statuses %v\n",
		res.Sent, res.Elapsed.Seconds(), res.Acked, res.Rate(), res.Heads, res.Bots, res.NoAnswer, res.NotSent, res.Statuses)
	fmt.Fprintf(w, "click latency: p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		ms(res.Latency.Quantile(0.5)), ms(res.Latency.Quantile(0.9)), ms(res.Latency.Quantile(0.99)), ms(res.Latency.Quantile(1)))
	ev := res.Events
	fmt.Fprintf(w, "conversions: %d orders (%d not sent: queue full); events %d acknowledged (%d replays answered 200), %d refused, %d retries, %d left in doubt; p99 %.2f ms\n",
		res.Orders, res.OrdersDropped, ev.Acked, ev.Replayed, ev.Refused, ev.Retries, ev.InDoubt, ms(ev.Latency.Quantile(0.99)))
}

func resultJSON(run string, res *loadgen.Result) map[string]any {
	return map[string]any{
		"run": run,
		"clicks": map[string]any{"sent": res.Sent, "acknowledged": res.Acked, "per_second": res.Rate(), "head": res.Heads,
			"bots": res.Bots, "no_answer": res.NoAnswer, "not_sent": res.NotSent, "statuses": res.Statuses,
			"p50_ms": ms(res.Latency.Quantile(0.5)), "p99_ms": ms(res.Latency.Quantile(0.99)), "seconds": res.Elapsed.Seconds()},
		"conversions": map[string]any{"orders": res.Orders, "events_acknowledged": res.Events.Acked, "replays": res.Events.Replayed,
			"refused": res.Events.Refused, "in_doubt": res.Events.InDoubt, "p99_ms": ms(res.Events.Latency.Quantile(0.99))},
	}
}

// writeRecord writes the ledger: one line per acknowledged click id.
func writeRecord(path string, l *loadgen.Ledger) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, id := range l.ClickIDs() {
		if err := enc.Encode(map[string]string{"click_id": id}); err != nil {
			f.Close()
			return err
		}
	}
	for _, e := range l.Events() {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
