package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/deploy/internal/stackenv"
)

// TestBenchShort is the short version of `make bench` (make bench-short):
// every phase, in a stack of its own, at the smallest sizes, so
// that a change to the bench (or to what it drives) that breaks it shows
// in CI and not in the next person's `make bench`. It asserts what every
// run must give, never a figure: the table, the JSON with each part
// measured, and loadgen's exact reconciliation.
func TestBenchShort(t *testing.T) {
	// Not in make test: in about one run in five here the test process
	// grew to 24 GB and the kernel killed it, a leak not yet found (see
	// docs/performance.md). make bench-short runs it.
	if os.Getenv("BENCH_SHORT") == "" {
		t.Skip("BENCH_SHORT=1 (make bench-short) runs the short bench")
	}
	bin := stackenv.Binaries(t, "../../..")
	if _, err := os.Stat(filepath.Join(bin, "bareinsert")); err != nil {
		// stackenv builds deploy's commands; the yardstick lives beside
		// this runner.
		cmd := exec.Command("go", "build", "-o", bin+"/", "./bench/bareinsert")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build bareinsert: %v\n%s", err, out)
		}
	}
	var results string
	var stdout, stderr bytes.Buffer
	// Two runs in twelve here were killed by the kernel for memory: a
	// webhook server refused connections during a closed-loop run (why
	// was not found) and loadgen's workers spun, recording millions of
	// events in doubt (mended: a refused request is not in doubt, and a
	// worker pauses after a failure). In case what made it refuse comes
	// back, a failed run is logged in full and run once more: two
	// failures in a row fail.
	for attempt := 1; ; attempt++ {
		results = t.TempDir()
		env := map[string]string{
			"BIN_DIR": bin, "RESULTS_DIR": results,
			"DURATION": "1s", "CONNECTIONS": "8", "LINKS": "40", "USER_AGENTS": "30",
			"INGEST_CLICKS": "2000", "QUIET_WAIT": "2s",
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		stdout.Reset()
		stderr.Reset()
		err := run(ctx, func(k string) string { return env[k] }, &stdout, &stderr)
		cancel()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("bench, second attempt: %v\n%s\n%s", err, stderr.String(), stdout.String())
		}
		t.Logf("bench, FIRST ATTEMPT FAILED (run again): %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	for _, row := range []string{"redirect unpinned, req/s", "webhooks/s, reporting paused", "  each round, webhooks/s",
		"ingest clicks/s", "click to report p50 / p99 ms", "match the reports exactly"} {
		if !strings.Contains(stdout.String(), row) {
			t.Errorf("the table has no %q:\n%s", row, stdout.String())
		}
	}
	files, _ := filepath.Glob(filepath.Join(results, "*.json"))
	if len(files) != 1 {
		t.Fatalf("results: %v, want one JSON file", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var out report
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	if !out.Reconciliation.OK || out.Reconciliation.Clicks == 0 || out.Reconciliation.Conversions == 0 {
		t.Errorf("reconciliation: %+v", out.Reconciliation)
	}
	if out.Redirect.Subject.Requests == 0 || out.Redirect.Yardstick.Requests == 0 {
		t.Errorf("redirect unpinned measured nothing: %+v", out.Redirect)
	}
	if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 &&
		(out.PerCore == nil || len(out.PerCoreRounds) != perCoreRounds || out.PerCore.Subject.PerBusyCoreSecond <= 0) {
		t.Errorf("redirect per core: %+v, %d rounds", out.PerCore, len(out.PerCoreRounds))
	}
	if len(out.WebhooksRounds) != webhookRounds || out.Webhooks.Subject.Requests == 0 || out.Webhooks.Yardstick.Requests == 0 {
		t.Errorf("webhooks: %d rounds, pooled %+v", len(out.WebhooksRounds), out.Webhooks)
	}
	if out.WebhooksTargetRate <= 0 || out.WebhooksAtTarget.Subject.Requests == 0 || out.WebhooksLive.Requests == 0 {
		t.Errorf("webhooks at the target's rate: %.0f/s, paused %+v, live %+v", out.WebhooksTargetRate, out.WebhooksAtTarget.Subject, out.WebhooksLive)
	}
	if out.Ingest.Clicks == 0 || out.Ingest.CopyRows != out.Ingest.Clicks {
		t.Errorf("ingest: %d clicks, COPY of %d rows", out.Ingest.Clicks, out.Ingest.CopyRows)
	}
	if out.Delay.Clicks == 0 {
		t.Errorf("click to report measured no click")
	}
	if t.Failed() {
		t.Logf("log:\n%s", stderr.String())
	}
}
