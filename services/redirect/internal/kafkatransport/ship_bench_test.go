package kafkatransport

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/kafkax"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
	"github.com/linkcredit/linkcredit/services/redirect/internal/traffic"
)

// nullWriter acknowledges every message at once: the shipper's own cost,
// without Kafka's.
type nullWriter struct{ n int }

func (w *nullWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.n += len(msgs)
	return nil
}

// BenchmarkShip is the shipper's cost per click: read from the click log,
// framed, published and committed. "null" acknowledges at once (the
// shipper alone); "kafka" goes through kafka-go to an in-process broker
// (whose own work is in the figure too).
func BenchmarkShip(b *testing.B) {
	b.Run("null", func(b *testing.B) { benchShip(b, &nullWriter{}, 1000) })
	brokers := testkit.Kafka(b)
	if err := kafkax.EnsureTopics(context.Background(), brokers, kafkax.Security{}, events.Topics()); err != nil {
		b.Fatal(err)
	}
	// Batches as the shipper makes them: up to its batch size, smaller
	// when it catches up with a moderate rate of clicks.
	writerBatch := 128
	for _, size := range []int{1000, 100, 20} {
		b.Run(fmt.Sprintf("kafka/batch=%d", size), func(b *testing.B) {
			w := kafkax.NewWriter(kafkax.WriterConfig{Brokers: brokers, BatchSize: writerBatch})
			b.Cleanup(func() { w.Close() })
			benchShip(b, w, size)
		})
	}
}

func benchShip(b *testing.B, w kafkax.MessageWriter, batch int) {
	log, err := clicklog.Open(clicklog.Options{Dir: b.TempDir(), MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	rec := NewRecorder(log, nil)
	g := traffic.New(traffic.Mix{}, 1)
	for i := range b.N {
		c := g.Next()
		click := events.ClickRecorded{Header: events.Header{ID: fmt.Sprintf("01JD%030d", i), Type: events.TypeClickRecorded, SchemaVersion: 1},
			OccurredAt: time.Now().UTC(), Code: "c42", Partner: "coursera", CourseID: "course-42",
			Destination: "https://www.coursera.org/learn/course-42?clickid=01JD&utm_source=linkcredit", UserAgent: c.UserAgent,
			Referer: c.Referer, UTMSource: "newsletter", Placement: "hero", VisitorHash: "abcdefghijklmnopqrstuv", Unique: true}
		if err := rec.Record(context.Background(), click); err != nil {
			b.Fatal(err)
		}
	}
	drain := make(chan struct{})
	close(drain)
	s := &Shipper{Log: log, Publisher: kafkax.NewPublisher(w, nil, nil, nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Drain: drain, BatchSize: batch}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	if err := s.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system time so far (the broker's
// too, for the kafka runs).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
