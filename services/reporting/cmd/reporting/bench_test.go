package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// BenchmarkIngestPipeline publishes a backlog of events (one conversion
// event per 20 clicks) and measures how fast a reporting process drains
// it into Postgres: Kafka fetch, decode, COPY, rollups, ledger, commit.
// INGEST_EVENTS sets the backlog (default 400,000).
func BenchmarkIngestPipeline(b *testing.B) {
	n := envInt("INGEST_EVENTS", 400000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		brokers := testkit.Kafka(b)
		dbURL := testkit.DatabaseURL(b)
		clicks, convs := publishBacklog(b, brokers, n)
		db, err := database.Open(dbURL, database.Pool{MaxOpen: 2})
		if err != nil {
			b.Fatal(err)
		}
		env := map[string]string{"DATABASE_URL": dbURL, "KAFKA_BROKERS": strings.Join(brokers, ","),
			"ADMIN_TOKEN": token, "LOG_LEVEL": "warn", "INGEST_CONSUMERS": os.Getenv("INGEST_CONSUMERS"),
			"PPROF_ADDR": os.Getenv("PPROF_ADDR"), "INGEST_BATCH": os.Getenv("INGEST_BATCH")}
		ln := testkit.Listen(b)
		b.StartTimer()
		start, busyBefore := time.Now(), machineBusy(b)
		proc := testkit.Start(b, testkit.ProcessConfig{Flag: "LINKCREDIT_RUN_REPORTING", AddrVar: "REPORTING_ADDR",
			Listener: ln, Env: env})
		for {
			var gotClicks, gotConvs int
			// Cheap counts: polling must not compete with the ingest it measures.
			err := db.QueryRow(`SELECT
				(SELECT coalesce(sum(clicks + bot_clicks), 0) FROM (SELECT clicks, bot_clicks FROM reporting.click_rollups
					UNION ALL SELECT clicks, bot_clicks FROM reporting.click_rollup_deltas) r),
				(SELECT coalesce(sum(conversions), 0) FROM (SELECT conversions FROM reporting.conversion_rollups
					UNION ALL SELECT conversions FROM reporting.conversion_rollup_deltas) v)`).Scan(&gotClicks, &gotConvs)
			if err == nil && gotClicks == clicks && gotConvs == convs {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("after 5 min: %d/%d clicks, %d/%d conversion events (%v)", gotClicks, clicks, gotConvs, convs, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		elapsed, busy := time.Since(start), machineBusy(b)-busyBefore
		b.StopTimer()
		db.Close()
		if os.Getenv("INGEST_LOGS") != "" {
			fmt.Println(proc.Logs())
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		b.ReportMetric(busy.Seconds()*1e6/float64(n), "busy-µs/event")
	}
}

// machineBusy is how long the machine's CPUs were busy since boot, all
// of them together (/proc/stat: user, nice, system, irq, softirq, at
// the usual 100 ticks a second). Ingest shares the machine's cores with
// PostgreSQL and the broker, so its CPU is counted whole, not only the
// reporting process's.
func machineBusy(b *testing.B) time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		b.Fatalf("/proc/stat starts %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %v", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func publishBacklog(b *testing.B, brokers []string, n int) (clicks, convs int) {
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, BatchSize: 5000, BatchBytes: 16 << 20,
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true}
	defer w.Close()
	ctx := context.Background()
	var batch []kafka.Message
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		var msg kafka.Message
		if i%20 == 19 {
			c := (i / 20) * 20 // a click of this block
			e := events.ConversionReceived{Header: events.Header{ID: fmt.Sprintf("cv%010d", i), Type: events.TypeConversionReceived, SchemaVersion: 1},
				Partner: fmt.Sprintf("p%d", c%1000%7), OrderID: fmt.Sprintf("o%d", i), ClickID: fmt.Sprintf("clk%010d", c),
				Status: "approved", SaleAmount: "49.00", Commission: "7.35", Currency: "USD",
				OccurredAt: base.Add(time.Duration(c) * 50 * time.Millisecond), Source: events.SourceWebhook, IdempotencyKey: "k"}
			v, _ := events.Marshal(e)
			msg = kafka.Message{Topic: events.TopicConversions, Key: e.Key(), Value: v}
			convs++
		} else {
			e := events.ClickRecorded{Header: events.Header{ID: fmt.Sprintf("clk%010d", i), Type: events.TypeClickRecorded, SchemaVersion: 1},
				OccurredAt: base.Add(time.Duration(i) * 50 * time.Millisecond), Code: fmt.Sprintf("link-%d", i%1000),
				Partner: fmt.Sprintf("p%d", i%1000%7), CourseID: fmt.Sprintf("course-%d", i%1000), Placement: "hero",
				Destination: "https://partner.example/course?clickid=x", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
				VisitorHash: "b7Hk2c9QpXr0", Bot: i%10 == 0, Unique: i%3 != 0}
			msg = kafka.Message{Topic: events.TopicClicks, Key: e.Key(), Value: e.AppendJSON(nil)}
			clicks++
		}
		batch = append(batch, msg)
		if len(batch) == 20000 || i == n-1 {
			for {
				if err := w.WriteMessages(ctx, batch...); err == nil {
					break
				} else if !strings.Contains(err.Error(), "Unknown Topic") && !strings.Contains(err.Error(), "unknown topic") {
					b.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			batch = batch[:0]
		}
	}
	return clicks, convs
}

// BenchmarkEventToReport publishes clicks and conversions at a steady
// rate (LATENCY_RATE events/s, default 5,000, for LATENCY_SECONDS, default
// 20) to a running reporting process and reads its
// reporting.ingest.delay histogram: Kafka timestamp to committed in the
// tables reports read. It reports the p50 and p99 bucket bounds. The
// process runs on the system clock and Kafka stamps the messages: the
// delay is elapsed time.
func BenchmarkEventToReport(b *testing.B) {
	rate := envInt("LATENCY_RATE", 5000)
	seconds := envInt("LATENCY_SECONDS", 20)
	for i := 0; i < b.N; i++ {
		brokers := testkit.Kafka(b)
		env := map[string]string{"DATABASE_URL": testkit.DatabaseURL(b), "KAFKA_BROKERS": strings.Join(brokers, ","),
			"ADMIN_TOKEN": token, "LOG_LEVEL": "warn"}
		proc := testkit.Start(b, testkit.ProcessConfig{Flag: "LINKCREDIT_RUN_REPORTING", AddrVar: "REPORTING_ADDR",
			Listener: testkit.Listen(b), Env: env})
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, BatchTimeout: 2 * time.Millisecond,
			RequiredAcks: kafka.RequireAll}
		ctx := context.Background()
		tick := time.NewTicker(10 * time.Millisecond)
		perTick := max(1, rate/100)
		seq := 0
		base := time.Now().UTC()
		for end := time.Now().Add(time.Duration(seconds) * time.Second); time.Now().Before(end); {
			<-tick.C
			var msgs []kafka.Message
			for j := 0; j < perTick; j++ {
				seq++
				if seq%20 == 0 {
					e := events.ConversionReceived{Header: events.Header{ID: fmt.Sprintf("cv%010d", seq), Type: events.TypeConversionReceived, SchemaVersion: 1},
						Partner: "p1", OrderID: fmt.Sprintf("o%d", seq), ClickID: fmt.Sprintf("clk%010d", seq-1), Status: "pending",
						SaleAmount: "49.00", Commission: "7.35", Currency: "USD", OccurredAt: base, Source: events.SourceWebhook, IdempotencyKey: "k"}
					v, _ := events.Marshal(e)
					msgs = append(msgs, kafka.Message{Topic: events.TopicConversions, Key: e.Key(), Value: v})
					continue
				}
				e := events.ClickRecorded{Header: events.Header{ID: fmt.Sprintf("clk%010d", seq), Type: events.TypeClickRecorded, SchemaVersion: 1},
					OccurredAt: base, Code: fmt.Sprintf("link-%d", seq%500), Partner: "p1", CourseID: "c", VisitorHash: "v", Unique: true}
				msgs = append(msgs, kafka.Message{Topic: events.TopicClicks, Key: e.Key(), Value: e.AppendJSON(nil)})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		w.Close()
		var p50, p99 float64
		var n int
		testkit.WaitFor(b, time.Minute, func() (err error) {
			if p50, p99, n, err = delayQuantiles(proc.Base); err == nil && n < seq {
				err = fmt.Errorf("%d of %d events ingested", n, seq)
			}
			return err
		})
		b.ReportMetric(p50, "p50_s")
		b.ReportMetric(p99, "p99_s")
		b.ReportMetric(float64(n), "events")
	}
}

// delayQuantiles reads the ingest delay histogram from /metrics and
// returns the upper bounds of the buckets holding the median and the 99th
// percentile, and how many events it counts.
func delayQuantiles(base string) (p50, p99 float64, total int, err error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	type bucket struct {
		le    float64
		count int
	}
	var buckets []bucket
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "reporting_ingest_delay_seconds_bucket{") {
			continue
		}
		le := line[strings.Index(line, `le="`)+4:]
		le = le[:strings.Index(le, `"`)]
		v, _ := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			v = math.Inf(1)
		}
		c, _ := strconv.Atoi(line[strings.LastIndex(line, " ")+1:])
		buckets = append(buckets, bucket{v, c})
	}
	if len(buckets) == 0 {
		return 0, 0, 0, errors.New("no reporting_ingest_delay_seconds histogram in /metrics")
	}
	total = buckets[len(buckets)-1].count
	for _, bk := range buckets {
		if p50 == 0 && float64(bk.count) >= 0.5*float64(total) {
			p50 = bk.le
		}
		if p99 == 0 && float64(bk.count) >= 0.99*float64(total) {
			p99 = bk.le
		}
	}
	return p50, p99, total, nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
