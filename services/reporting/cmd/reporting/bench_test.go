package main

import (
	"context"
	"fmt"
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
	n := 400000
	if v, err := strconv.Atoi(os.Getenv("INGEST_EVENTS")); err == nil && v > 0 {
		n = v
	}
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
			"ADMIN_TOKEN": token, "REPORTING_ADDR": testkit.FreeAddr(b), "LOG_LEVEL": "warn", "INGEST_CONSUMERS": os.Getenv("INGEST_CONSUMERS"),
			"PPROF_ADDR": os.Getenv("PPROF_ADDR")}
		b.StartTimer()
		start := time.Now()
		proc := testkit.StartProcess(b, "LINKCREDIT_RUN_REPORTING", "REPORTING_ADDR", env)
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
			time.Sleep(100 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		db.Close()
		if os.Getenv("INGEST_LOGS") != "" {
			fmt.Println(proc.Logs())
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	}
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
