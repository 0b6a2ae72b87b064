package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// Contract v1.1, "Status order": the requests of one conversion get
// numbers that rise in the order they were committed, however many
// replicas accept them at once; the number is stored with the request
// (for replay) and is the one its event was built with; a duplicate
// gets no new event.
func TestAcceptNumbersRiseInCommitOrderPerConversion(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				in := conversion.InboxEntry{Partner: "p", OrderID: "ORDER-1", IdempotencyKey: key, EventID: "ev-" + key,
					Source: "webhook", Method: "POST", BodyHash: []byte(key), Body: []byte(`{}`), ReceivedAt: at}
				build := func(n int64) (conversion.OutboxMessage, error) {
					return conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/ORDER-1"),
						Value: []byte(strconv.FormatInt(n, 10))}, nil
				}
				if _, err := s.Accept(ctx, in, build); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// The outbox (published in id order) carries the numbers rising.
	rows, err := db.Query(`SELECT convert_from(value, 'UTF8')::bigint FROM conversions.outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var prev int64
	n := 0
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v <= prev {
			t.Fatalf("outbox row %d carries %d after %d: not in acceptance order", n, v, prev)
		}
		prev, n = v, n+1
	}
	if n != workers*each {
		t.Fatalf("%d events, want %d", n, workers*each)
	}
	// Each request keeps the number its event carries.
	var mismatched int
	if err := db.QueryRow(`SELECT count(*) FROM conversions.inbox i JOIN conversions.outbox o ON o.inbox_id = i.id
		WHERE i.accepted_seq IS DISTINCT FROM convert_from(o.value, 'UTF8')::bigint`).Scan(&mismatched); err != nil {
		t.Fatal(err)
	}
	if mismatched != 0 {
		t.Fatalf("%d requests store another number than their event carries", mismatched)
	}
	// A duplicate delivery is recognised and adds nothing.
	key := "w0-0"
	var before int64
	if err := db.QueryRow(`SELECT accepted_seq FROM conversions.inbox WHERE idempotency_key = $1`, key).Scan(&before); err != nil {
		t.Fatal(err)
	}
	in := conversion.InboxEntry{Partner: "p", OrderID: "ORDER-1", IdempotencyKey: key, EventID: "ev-" + key,
		Source: "webhook", Method: "POST", BodyHash: []byte(key), Body: []byte(`{}`), ReceivedAt: at}
	r, err := s.Accept(ctx, in, func(n int64) (conversion.OutboxMessage, error) {
		return conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/ORDER-1"), Value: []byte("0")}, nil
	})
	if err != nil || !r.Duplicate {
		t.Fatalf("duplicate: %+v %v", r, err)
	}
	var stored int64
	if err := db.QueryRow(`SELECT accepted_seq FROM conversions.inbox WHERE idempotency_key = $1`, key).Scan(&stored); err != nil || stored != before {
		t.Fatalf("the duplicate changed the stored number: %d, want %d (%v)", stored, before, err)
	}
}

// BenchmarkAccept stores requests as the webhook handler does, each of its
// own conversion, from 8 and from 64 goroutines (2 CPUs): requests that
// wait together are stored in one accept_batch call (batch.go). Measured
// here: 112-145 µs/op at 8 and 43-48 µs/op at 64, where one acceptSQL statement
// per request took 130-143 and 136-141 µs/op.
func BenchmarkAccept(b *testing.B) {
	db := testkit.DB(b)
	ctx := context.Background()
	if err := database.Migrate(ctx, db, Schema, Migrations()); err != nil {
		b.Fatal(err)
	}
	s := New(db)
	if _, _, err := s.PutPartner(ctx, conversion.StoredPartner{ID: "p", Name: "P", Currency: "USD",
		MaxAmount: adapter.DefaultMaxAmount("USD"), UpdatedAt: at}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	for _, goroutines := range []int{8, 64} {
		b.Run(strconv.Itoa(goroutines), func(b *testing.B) {
			b.SetParallelism(goroutines / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					key := "bench-" + strconv.FormatInt(i, 10)
					in := conversion.InboxEntry{Partner: "p", OrderID: key, IdempotencyKey: key, EventID: "ev-" + key, Source: "webhook",
						Method: "POST", BodyHash: []byte(key), Body: []byte(`{}`), ReceivedAt: at}
					if _, err := s.Accept(ctx, in, func(seq int64) (conversion.OutboxMessage, error) {
						return conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/" + key), Value: []byte(strconv.FormatInt(seq, 10))}, nil
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
