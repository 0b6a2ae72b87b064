package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

func splitLines(s string) []string { return strings.Split(s, "\n") }

func cutTrim(s, sep string) (string, string, bool) {
	k, v, ok := strings.Cut(s, sep)
	return strings.TrimSpace(k), strings.TrimSpace(v), ok
}

func trimNL(b []byte) []byte { return []byte(strings.TrimSpace(string(b))) }

// ratio is a / b as the table prints it, "-" without a yardstick. Three
// decimals: with two, 0.5988 printed as 0.60×, a target met that
// was not (issue 15's runs of 2026-12-04, 04:31).
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f×", a/b)
}

// print writes the one table.
func (b *bench) print(w io.Writer) {
	o := &b.out
	fmt.Fprintf(w, "\nlinkcredit bench, %s, %s CPUs (%s), %s\n", o.Started.Format("2006-01-02 15:04 UTC"), o.Machine["cpus"], o.Machine["cpu"], o.Machine["go"])
	if wb := o.Machine["writeback"]; wb != "" {
		fmt.Fprintf(w, "the kernel's writeback: %s\n", wb)
	}
	fmt.Fprintln(w)
	t := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(t, "figure\tlinkcredit\tyardstick (same run)\tratio")
	r := o.Redirect
	fmt.Fprintf(t, "redirect unpinned, req/s\t%.0f\tbare302 %.0f\t%s\n", r.Subject.PerSecond, r.Yardstick.PerSecond, ratio(r.Subject.PerSecond, r.Yardstick.PerSecond))
	fmt.Fprintf(t, "  p50 / p99 ms\t%.2f / %.2f\t%.2f / %.2f\tp99 %s\n", r.Subject.P50ms, r.Subject.P99ms, r.Yardstick.P50ms, r.Yardstick.P99ms, ratio(r.Subject.P99ms, r.Yardstick.P99ms))
	if p := o.PerCore; p != nil {
		fmt.Fprintf(t, "redirect per core, req per busy core-s\t%.0f\tbare302 %.0f\t%s\n", p.Subject.PerBusyCoreSecond, p.Yardstick.PerBusyCoreSecond, ratio(p.Subject.PerBusyCoreSecond, p.Yardstick.PerBusyCoreSecond))
		fmt.Fprintf(t, "  req/s (core busy)\t%.0f (%.0f %%)\t%.0f (%.0f %%)\t%s\n", p.Subject.PerSecond, 100*p.Subject.Busy, p.Yardstick.PerSecond, 100*p.Yardstick.Busy, ratio(p.Subject.PerSecond, p.Yardstick.PerSecond))
		fmt.Fprintf(t, "  p50 / p99 ms\t%.2f / %.2f\t%.2f / %.2f\tp99 %s\n", p.Subject.P50ms, p.Subject.P99ms, p.Yardstick.P50ms, p.Yardstick.P99ms, ratio(p.Subject.P99ms, p.Yardstick.P99ms))
		if p.Subject.SocketP99ms > 0 && p.Yardstick.SocketP99ms > 0 {
			fmt.Fprintf(t, "  the same at loadgen's socket\t%.2f / %.2f\t%.2f / %.2f\tp99 %s\n", p.Subject.SocketP50ms, p.Subject.SocketP99ms, p.Yardstick.SocketP50ms, p.Yardstick.SocketP99ms, ratio(p.Subject.SocketP99ms, p.Yardstick.SocketP99ms))
		}
		fmt.Fprintf(t, "  loadgen CPU (share of its core)\t%.0f %%\t%.0f %%\t\n", 100*p.Subject.LoadCPUSeconds/p.Subject.Seconds, 100*p.Yardstick.LoadCPUSeconds/p.Yardstick.Seconds)
		var rounds []string
		for _, r := range o.PerCoreRounds {
			rounds = append(rounds, ratio(r.Subject.PerBusyCoreSecond, r.Yardstick.PerBusyCoreSecond))
		}
		fmt.Fprintf(t, "  each round, req per busy core-s\t\t\t%s\n", strings.Join(rounds, " "))
		if len(o.PerCoreRounds) > 0 && o.PerCoreRounds[0].Subject.Cores != nil {
			var subject, yardstick []string
			for _, r := range o.PerCoreRounds {
				subject, yardstick = append(subject, busyStolen(r.Subject.Cores["cpu0"])), append(yardstick, busyStolen(r.Yardstick.Cores["cpu0"]))
			}
			fmt.Fprintf(t, "  CPU 0 busy / stolen %%, each round\t%s\t%s\t\n", strings.Join(subject, " "), strings.Join(yardstick, " "))
			if d := disturbedRounds(o.PerCoreRounds); d != "" {
				fmt.Fprintf(t, "  DISTURBED: other work on CPU 0\t%s\t\t\n", d)
			}
		}
		if u := unsteadyYardstick(o.PerCoreRounds); u != "" {
			fmt.Fprintf(t, "  UNSTEADY: the machine's speed moved\t\t%s\t\n", u)
		} else if u := unsteadySubject(o.PerCoreRounds); u != "" {
			fmt.Fprintf(t, "  SPREAD: the redirect's rounds disagree\t%s\t\t\n", u)
		}
	}
	wh := o.Webhooks
	fmt.Fprintf(t, "webhooks/s, reporting paused (all 2xx?)\t%.0f (%s)\tbareinsert %.0f (%s)\t%s\n", wh.Subject.PerSecond, all2xx(wh.Subject.Statuses), wh.Yardstick.PerSecond, all2xx(wh.Yardstick.Statuses), ratio(wh.Subject.PerSecond, wh.Yardstick.PerSecond))
	fmt.Fprintf(t, "  p50 / p99 ms\t%.2f / %.2f\t%.2f / %.2f\tp99 %s\n", wh.Subject.P50ms, wh.Subject.P99ms, wh.Yardstick.P50ms, wh.Yardstick.P99ms, ratio(wh.Subject.P99ms, wh.Yardstick.P99ms))
	if len(o.WebhooksRounds) > 0 {
		var rounds []string
		for _, r := range o.WebhooksRounds {
			rounds = append(rounds, ratio(r.Subject.PerSecond, r.Yardstick.PerSecond))
		}
		fmt.Fprintf(t, "  each round, webhooks/s\t\t\t%s\n", strings.Join(rounds, " "))
	}
	wt := o.WebhooksAtTarget
	fmt.Fprintf(t, "webhooks at %.0f/s (half bareinsert's most): p50 / p99 ms\t%.2f / %.2f (%s)\t%.2f / %.2f (%s)\tp99 %s\n", o.WebhooksTargetRate,
		wt.Subject.P50ms, wt.Subject.P99ms, all2xx(wt.Subject.Statuses), wt.Yardstick.P50ms, wt.Yardstick.P99ms, all2xx(wt.Yardstick.Statuses), ratio(wt.Subject.P99ms, wt.Yardstick.P99ms))
	// The CPU by process is wider than a cell: lines of their own under
	// the table, so the table stays as wide as its figures.
	var cpu []string
	cpu = append(cpu, fmt.Sprintf("  at %.0f/s, linkcredit: %s", o.WebhooksTargetRate, cpuLine(wt.Subject.CPUPerRequest)),
		fmt.Sprintf("  at %.0f/s, bareinsert: %s", o.WebhooksTargetRate, cpuLine(wt.Yardstick.CPUPerRequest)))
	wr := o.WebhooksAtRate
	fmt.Fprintf(t, "webhooks at %.0f/s (80 %% of its most): p50 / p99 ms\t%.2f / %.2f (%s)\t%.2f / %.2f (%s)\tp99 %s\n", o.WebhooksRate,
		wr.Subject.P50ms, wr.Subject.P99ms, all2xx(wr.Subject.Statuses), wr.Yardstick.P50ms, wr.Yardstick.P99ms, all2xx(wr.Yardstick.Statuses), ratio(wr.Subject.P99ms, wr.Yardstick.P99ms))
	wl := o.WebhooksLive
	fmt.Fprintf(t, "  again at %.0f/s (%.0f %% over), reporting live: p50 / p99 ms\t%.2f / %.2f (%s)\t\t\n", liveOver*o.WebhooksTargetRate, (liveOver-1)*100, wl.P50ms, wl.P99ms, all2xx(wl.Statuses))
	cpu = append(cpu, fmt.Sprintf("  at %.0f/s, reporting live: %s", liveOver*o.WebhooksTargetRate, cpuLine(wl.CPUPerRequest)))
	if ws := o.WebhooksLiveSustained; o.WebhooksLiveSustainedRate > 0 {
		fmt.Fprintf(t, "  the most it sustained live (p99 < %.0f ms, all sent, reports kept up)\t%.0f/s, p99 %.2f ms\tbareinsert %.0f\t%s\n",
			liveP99, ws.PerSecond, ws.P99ms, wh.Yardstick.PerSecond, ratio(ws.PerSecond, wh.Yardstick.PerSecond))
	} else if o.WebhooksTargetRate > 0 {
		fmt.Fprintf(t, "  the most it sustained live (p99 < %.0f ms, all sent, reports kept up)\tnone down to %.0f/s\t\t\n",
			liveP99, slices.Min(liveRates(o.WebhooksTargetRate)))
	}
	in := o.Ingest
	fmt.Fprintf(t, "ingest clicks/s (%d)\t%.0f\tCOPY %.0f\t%s\n", in.Clicks, in.PerSecond, in.CopyPerSecond, ratio(in.PerSecond, in.CopyPerSecond))
	fmt.Fprintf(t, "  with the %.1fs rejoin wait\t%.0f\t\t%s\n", in.FirstWaitSec, in.PerSecondWithWait, ratio(in.PerSecondWithWait, in.CopyPerSecond))
	if c := in.CPUPerClick; len(c) > 0 {
		fmt.Fprintf(t, "  CPU µs a click: reporting / postgres / broker\t%.1f / %.1f / %.1f\t\t\n", c["reporting"], c["postgres"], c["devbroker"])
	}
	if c := in.CPUPerClickFolded; len(c) > 0 {
		fmt.Fprintf(t, "  the same, until folded into rollups (%.1fs)\t%.1f / %.1f / %.1f\t\t\n", in.FoldedAfterSec, c["reporting"], c["postgres"], c["devbroker"])
	}
	d := o.Delay
	fmt.Fprintf(t, "click to report p50 / p99 ms\t%.0f / %.0f\t(%d clicks at %.0f/s)\t\n", d.P50ms, d.P99ms, d.Clicks, d.Rate)
	fmt.Fprintf(t, "  each poll's report answered in, p50 / p99 ms\t%.0f / %.0f\t\t\n", d.ReportP50ms, d.ReportP99ms)
	names := make([]string, 0, len(o.Memory))
	for n := range o.Memory {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m := o.Memory[n]
		if n == "postgres" {
			fmt.Fprintf(t, "memory %s, MiB\tPSS %.0f (all processes)\tlargest RSS %.0f\t\n", n, m.PSS, m.RSS)
			continue
		}
		fmt.Fprintf(t, "memory %s, MiB\tRSS %.0f\tpeak %.0f\t\n", n, m.RSS, m.Peak)
	}
	t.Flush()
	fmt.Fprintf(w, "\nCPU µs a webhook, by process:\n%s\n", strings.Join(cpu, "\n"))
	fmt.Fprintf(w, "\n%s\n", o.Reconciliation.Summary)
}

func all2xx(st map[int]int64) string {
	var ok, bad int64
	for code, n := range st {
		if code/100 == 2 {
			ok += n
		} else {
			bad += n
		}
	}
	if bad == 0 {
		return "all 2xx"
	}
	return fmt.Sprintf("%d not 2xx", bad)
}

// disturbedRounds names the per-core rounds in which CPU 0 was busier
// than its pinned server by more than 10 points of a core: something else
// ran there (an acceptance check's benchmark did, once), and the round's
// ratio says less about the servers. "" when none.
func disturbedRounds(rounds []pair) string {
	var out []string
	for i, r := range rounds {
		for _, m := range []struct {
			name string
			m    measure
		}{{"redirect", r.Subject}, {"bare302", r.Yardstick}} {
			if c, ok := m.m.Cores["cpu0"]; ok && c.Busy-m.m.Busy > 0.10 {
				out = append(out, fmt.Sprintf("round %d %s %.0f %% of CPU 0's %.0f %%", i+1, m.name, 100*m.m.Busy, 100*c.Busy))
			}
		}
	}
	return strings.Join(out, "; ")
}

// unsteadyYardstick says how far bare302's requests a busy core-second
// moved across the per-core rounds when the fastest round beat the
// slowest by more than a third: the machine's speed changed under the
// run (once from 25,000 to 48,000 between two rounds, while CPU 0 showed
// nothing else running), and the pooled ratio mixes speeds. "" when the
// rounds agree.
func unsteadyYardstick(rounds []pair) string {
	return apart(rounds, "bare302 ", func(r pair) float64 { return r.Yardstick.PerBusyCoreSecond })
}

// unsteadySubject is unsteadyYardstick for the redirect's rounds, for a
// run whose yardstick held steady: one round of the redirect far from
// the others (at 18:59 on 2026-12-06, 17,744 against 24,779 and 25,696,
// bare302 steady) pulls the pooled figure with it, and nothing in one
// run tells whether the machine or the redirect slowed. "" when the
// rounds agree.
func unsteadySubject(rounds []pair) string {
	return apart(rounds, "", func(r pair) float64 { return r.Subject.PerBusyCoreSecond })
}

// apart names the range of value over the rounds (its positive values),
// after prefix, when the highest beats the lowest by more than
// unsteadyFactor; "" otherwise.
func apart(rounds []pair, prefix string, value func(pair) float64) string {
	lo, hi := 0.0, 0.0
	for _, r := range rounds {
		v := value(r)
		if v <= 0 {
			continue
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 || hi <= lo*unsteadyFactor {
		return ""
	}
	return fmt.Sprintf("%s%.0f to %.0f a busy core-second across the rounds", prefix, lo, hi)
}

// unsteadyFactor is how much faster than its slowest round the yardstick's
// fastest may be before the run is flagged.
const unsteadyFactor = 4.0 / 3

// busyStolen is a CPU's busy and stolen shares as "busy/stolen" percent.
func busyStolen(c coreShares) string { return fmt.Sprintf("%.0f/%.0f", 100*c.Busy, 100*c.Steal) }
