package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// figureStack is a reporting process on the system clock for the
// figures below, with the production batch size and consumers unless
// INGEST_BATCH and INGEST_CONSUMERS say otherwise, and a marker in its
// environment to find its pid by.
type figureStack struct {
	proc   *testkit.Process
	db     *sql.DB
	writer *kafka.Writer
	marker string
}

func startFigureStack(b *testing.B) *figureStack {
	b.Helper()
	brokers := testkit.Kafka(b)
	dbURL := testkit.DatabaseURL(b)
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	// GODEBUG=gctrace=1: the runtime prints the live heap after each
	// collection (liveHeap reads it).
	env := map[string]string{"DATABASE_URL": dbURL, "KAFKA_BROKERS": strings.Join(brokers, ","), "ADMIN_TOKEN": token,
		"LOG_LEVEL": "warn", "INGEST_BATCH": os.Getenv("INGEST_BATCH"), "INGEST_CONSUMERS": os.Getenv("INGEST_CONSUMERS"),
		"LINKCREDIT_FIGURE_ID": marker, "GODEBUG": "gctrace=1"}
	proc := testkit.Start(b, testkit.ProcessConfig{Flag: "LINKCREDIT_RUN_REPORTING", AddrVar: "REPORTING_ADDR",
		Listener: testkit.Listen(b), Env: env})
	db, err := database.Open(dbURL, database.Pool{MaxOpen: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, BatchSize: 5000, BatchBytes: 16 << 20,
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true}
	b.Cleanup(func() { w.Close() })
	b.Cleanup(func() {
		if b.Failed() || os.Getenv("FIGURE_LOGS") != "" {
			b.Logf("reporting's logs:\n%s", proc.Logs())
		}
	})
	return &figureStack{proc: proc, db: db, writer: w, marker: marker}
}

func (f *figureStack) publish(b *testing.B, msgs []kafka.Message) {
	b.Helper()
	testkit.WaitFor(b, 30*time.Second, func() error { // the first write waits for the topic
		return f.writer.WriteMessages(context.Background(), msgs...)
	})
}

// counted is how many clicks the rollups (what reports read) hold for
// links whose code starts with prefix.
func (f *figureStack) counted(prefix string) int {
	var n int
	_ = f.db.QueryRow(`SELECT coalesce(sum(r.n), 0) FROM (
			SELECT key_id, clicks + bot_clicks AS n FROM reporting.click_rollups
			UNION ALL SELECT key_id, clicks + bot_clicks FROM reporting.click_rollup_deltas) r
		JOIN reporting.rollup_keys k ON k.id = r.key_id WHERE k.code LIKE $1 || '%'`, prefix).Scan(&n)
	return n
}

// waitCounted polls, without a deadline of its own beyond 10 minutes,
// until the rollups hold want clicks for prefix.
func (f *figureStack) waitCounted(b *testing.B, prefix string, want int) {
	b.Helper()
	testkit.WaitFor(b, 2*time.Minute, func() error {
		if n := f.counted(prefix); n != want {
			var stored int
			_ = f.db.QueryRow(`SELECT count(*) FROM reporting.clicks WHERE code LIKE $1 || '%'`, prefix).Scan(&stored)
			return fmt.Errorf("%d of %d clicks for %s counted (%d stored)", n, want, prefix, stored)
		}
		return nil
	})
}

// status reads a field of the reporting process's /proc status, in MB.
func (f *figureStack) status(b *testing.B, field string) float64 {
	b.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(d + "/environ")
		if err != nil || !strings.Contains(string(env), "LINKCREDIT_FIGURE_ID="+f.marker+"\x00") {
			continue
		}
		st, err := os.ReadFile(d + "/status")
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				return float64(kb) / 1024
			}
		}
	}
	b.Fatalf("no process with the figure marker (or no %s)", field)
	return 0
}

// liveHeap waits for the reporting process's next garbage collection
// (the runtime forces one at least every two minutes) and returns the
// heap it found live, in MB, from its gctrace line
// ("gc 12 @3.1s 2%: ..., 40->41->20 MB, 42 MB goal, ...").
func (f *figureStack) liveHeap(b *testing.B) float64 {
	b.Helper()
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(f.proc.Logs(), "\n") {
			if strings.HasPrefix(l, "gc ") && strings.Contains(l, " MB, ") {
				out = append(out, l)
			}
		}
		return out
	}
	seen := len(lines())
	var live float64
	testkit.WaitFor(b, 3*time.Minute, func() error {
		l := lines()
		if len(l) <= seen {
			return fmt.Errorf("no garbage collection since %d", seen)
		}
		last := l[len(l)-1]
		heaps := last[:strings.Index(last, " MB, ")]
		heaps = heaps[strings.LastIndex(heaps, " ")+1:]
		parts := strings.Split(heaps, "->")
		var err error
		live, err = strconv.ParseFloat(parts[len(parts)-1], 64)
		return err
	})
	return live
}

func figureClick(id, code, placement, course string, at time.Time) kafka.Message {
	e := events.ClickRecorded{Header: events.Header{ID: id, Type: events.TypeClickRecorded, SchemaVersion: 1},
		OccurredAt: at, Code: code, Partner: "p1", CourseID: course, Placement: placement,
		Destination: "https://partner.example/course?clickid=x", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		VisitorHash: "b7Hk2c9QpXr0", Unique: true}
	v, _ := events.Marshal(e)
	return kafka.Message{Topic: events.TopicClicks, Key: e.Key(), Value: v}
}

// BenchmarkPoisonDelay measures how long one poison message holds up the
// messages around it: a backlog of POISON_BACKLOG clicks (default 20,000,
// one production batch) is published with one poison click in its
// middle, and timed from the write until every good click is in the
// rollups; the same backlog without poison is the baseline. "decode" is
// poison events.Validate refuses (an 8 KB placement: set aside without
// a retry); "sql" is a click only Postgres refuses (a NUL byte), which
// the subscriber finds by halving the batch. ms/<kind> is the drain
// time; extra_ms/<kind> what the poison added to the clean drain. With
// INGEST_CONSUMERS=1 the backlog is one batch, and the difference is the
// cost of the poison alone.
//
//	INGEST_CONSUMERS=1 go test -run '^$' -bench PoisonDelay -benchtime 10x ./cmd/reporting
func BenchmarkPoisonDelay(b *testing.B) {
	n := envInt("POISON_BACKLOG", 20000)
	f := startFigureStack(b)
	at := time.Now().UTC().Add(-time.Hour)
	poison := map[string]func(id, code string) kafka.Message{
		"clean":  nil,
		"decode": func(id, code string) kafka.Message { return figureClick(id, code, strings.Repeat("p", 8192), "c", at) },
		"sql":    func(id, code string) kafka.Message { return figureClick(id, code, "hero", "c\x00", at) },
	}
	// Warm up: topics, partitions, group, rollup keys.
	f.publish(b, []kafka.Message{figureClick("warm", "warm", "hero", "c", at)})
	f.waitCounted(b, "warm", 1)
	total := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, kind := range []string{"clean", "decode", "sql"} {
			code := fmt.Sprintf("%s-%d-", kind, i)
			msgs := make([]kafka.Message, 0, n+1)
			for j := 0; j < n; j++ {
				if j == n/2 && poison[kind] != nil {
					msgs = append(msgs, poison[kind](code+"poison", code+"x"))
				}
				msgs = append(msgs, figureClick(fmt.Sprintf("%s%06d", code, j), code+"x", "hero", "c", at))
			}
			start := time.Now()
			f.publish(b, msgs)
			f.waitCounted(b, code, n)
			total[kind] += time.Since(start)
		}
	}
	b.StopTimer()
	for _, kind := range []string{"clean", "decode", "sql"} {
		ms := float64(total[kind].Milliseconds()) / float64(b.N)
		b.ReportMetric(ms, "ms/"+kind)
		if kind != "clean" {
			b.ReportMetric(ms-float64(total["clean"].Milliseconds())/float64(b.N), "extra_ms/"+kind)
		}
	}
}

// BenchmarkMemoryRandomPlacements publishes MEM_CLICKS clicks (default
// 1,000,000) whose placements are random 16-character strings, on
// MEM_LINKS links (default 100) over 10 days, waits until all are in the
// rollups, and reports the reporting process's resident memory before
// and after (VmRSS), at its peak (VmHWM), and its live Go heap after the
// next collection, with the rollup keys and placement slots stored.
// MEM_FIXED_PLACEMENT=1 gives every click the same placement instead: the
// baseline. The caches keyed by input are bounded (two generations of
// postgres' keyCacheSize rollup keys and slotCacheSize link-days), and
// each link-day has at most postgres.MaxPlacements placements of its own.
//
//	go test -run '^$' -bench MemoryRandomPlacements -benchtime 1x ./cmd/reporting
func BenchmarkMemoryRandomPlacements(b *testing.B) {
	n := envInt("MEM_CLICKS", 1000000)
	links := envInt("MEM_LINKS", 100)
	fixed := os.Getenv("MEM_FIXED_PLACEMENT") != "" // the baseline: one placement for every click
	for i := 0; i < b.N; i++ {
		f := startFigureStack(b)
		idle := f.status(b, "VmRSS")
		rng := rand.New(rand.NewPCG(1, uint64(i)))
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
		start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -10)
		var msgs []kafka.Message
		for j := 0; j < n; j++ {
			p := make([]byte, 16)
			for k := range p {
				p[k] = alphabet[rng.IntN(len(alphabet))]
			}
			if fixed {
				p = []byte("hero")
			}
			at := start.Add(time.Duration(j) * (10 * 24 * time.Hour / time.Duration(n)))
			msgs = append(msgs, figureClick(fmt.Sprintf("m%09d", j), fmt.Sprintf("mem-%d", j%links), string(p), "c", at))
			if len(msgs) == 20000 || j == n-1 {
				f.publish(b, msgs)
				msgs = msgs[:0]
			}
		}
		f.waitCounted(b, "mem-", n)
		var keys, slots int
		_ = f.db.QueryRow(`SELECT (SELECT count(*) FROM reporting.rollup_keys), (SELECT count(*) FROM reporting.placement_slots)`).Scan(&keys, &slots)
		b.ReportMetric(idle, "idle_rss_MB")
		b.ReportMetric(f.status(b, "VmRSS"), "rss_MB")
		b.ReportMetric(f.status(b, "VmHWM"), "peak_rss_MB")
		b.ReportMetric(f.liveHeap(b), "live_heap_MB")
		b.ReportMetric(float64(keys), "rollup_keys")
		b.ReportMetric(float64(slots), "link_days")
		b.ReportMetric(float64(postgres.MaxPlacements), "max_placements")
	}
}
