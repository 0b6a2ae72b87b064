package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/linkcredit/linkcredit/deploy/loadgen"
)

// runWebhooks is what webhookload was: signed webhooks to one URL.
func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen webhooks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://127.0.0.1:8081/v1/webhooks/coursera", "webhook URL (loopback only); its last segment is the partner")
	secret := fs.String("secret", "", "the partner's secret, whsec_...")
	currency := fs.String("currency", "USD", "currency of the conversions")
	rate := fs.Float64("rate", 0, "deliveries per second (open loop); 0 as fast as -c workers go")
	workers := fs.Int("c", 64, "most deliveries in flight")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	jsonOut := fs.String("json", "", "write the result as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loadgen.CheckLoopback(*target); err != nil {
		return err
	}
	if _, err := loadgen.Sign(*secret, "x", 0, nil); err != nil {
		return fmt.Errorf("-secret: %w", err)
	}
	u, err := url.Parse(*target)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	// The measuring tool must not add its own GC pauses to the latencies.
	debug.SetGCPercent(400)
	stack := &loadgen.Stack{Conversions: u.Scheme + "://" + u.Host}
	wl := loadgen.WebhookLoad{Stack: stack, URL: *target, RunID: "load-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Partner: loadgen.Partner{ID: path.Base(u.Path), Secret: *secret, Currency: *currency},
		Rate:    *rate, Concurrency: *workers, Duration: *duration}
	res, err := wl.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %d in %.1fs: %.0f/s acknowledged, statuses %v, no answer %d, not sent (due, but %d workers never got to them) %d\n",
		res.Sent, res.Elapsed.Seconds(), res.Rate(), res.Statuses, res.NoAnswer, *workers, res.NotSent)
	fmt.Fprintf(stdout, "latency p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		ms(res.Latency.Quantile(0.5)), ms(res.Latency.Quantile(0.9)), ms(res.Latency.Quantile(0.99)), ms(res.Latency.Quantile(1)))
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"sent": res.Sent, "acknowledged": res.Acked, "per_second": res.Rate(),
			"statuses": res.Statuses, "not_sent": res.NotSent, "p50_ms": ms(res.Latency.Quantile(0.5)),
			"p99_ms": ms(res.Latency.Quantile(0.99))}, "", "  ")
		return os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}
