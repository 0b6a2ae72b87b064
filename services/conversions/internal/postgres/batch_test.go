package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// TestBatcherRunsEachRequestOnceWithinItsBounds: whatever the load, every
// request is run once, in a batch of at most max, with at most lanes
// batches at a time, and no lane outlives the work.
func TestBatcherRunsEachRequestOnceWithinItsBounds(t *testing.T) {
	for _, tc := range []struct {
		lanes, max, spill, requests int
		spillAfter                  time.Duration
	}{
		{1, 1, 0, 50, 0},
		{1, 128, 0, 500, 0},
		{2, 8, 0, 500, 0},
		{4, 3, 0, 200, 0},
		{2, 8, 16, 500, 0},
		{2, 128, batchSpill, 500, batchSpillAfter},
		{3, 4, 5, 300, 0},
		{2, 8, 16, 500, 100 * time.Microsecond},
		{3, 2, 50, 300, time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%dx%d/spill%d-%s", tc.lanes, tc.max, tc.spill, tc.spillAfter), func(t *testing.T) {
			var mu sync.Mutex
			inFlight, most, runs := 0, 0, map[*acceptRequest]int{}
			b := &batcher{lanes: tc.lanes, max: tc.max, spill: tc.spill, spillAfter: tc.spillAfter}
			b.run = func(batch []*acceptRequest) {
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				if len(batch) == 0 || len(batch) > tc.max {
					t.Errorf("a batch of %d, want 1 to %d", len(batch), tc.max)
				}
				for _, r := range batch {
					runs[r]++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond) // a statement
				mu.Lock()
				inFlight--
				mu.Unlock()
				for _, r := range batch {
					r.done <- batchResult{stored: true}
				}
			}
			var wg sync.WaitGroup
			for range tc.requests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if res := <-b.submit(&acceptRequest{}); !res.stored {
						t.Error("a request was not answered as stored")
					}
				}()
			}
			wg.Wait()
			// A lane answers its batch before it looks for more work and
			// finds none: give it that moment.
			waitUntil(t, "no lane running", func() bool { return b.state().running == 0 })
			mu.Lock()
			defer mu.Unlock()
			if len(runs) != tc.requests {
				t.Fatalf("%d requests run, want %d", len(runs), tc.requests)
			}
			for _, n := range runs {
				if n != 1 {
					t.Fatalf("a request run %d times", n)
				}
			}
			if most > tc.lanes {
				t.Fatalf("%d batches at once, want at most %d", most, tc.lanes)
			}
			if st := b.state(); st.running != 0 || st.waiting != 0 {
				t.Fatalf("after the work: %d lanes running, %d requests waiting", st.running, st.waiting)
			}
		})
	}
}

// TestBatcherSpill: while a lane runs, another starts only once spill
// requests wait; they go together in its batch.
func TestBatcherSpill(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := &batcher{lanes: 2, max: batchMax, spill: 3}
	b.run = func(batch []*acceptRequest) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
		<-release
		for _, r := range batch {
			r.done <- batchResult{stored: true}
		}
	}
	var answers []<-chan batchResult
	answers = append(answers, b.submit(&acceptRequest{}))
	waitUntil(t, "the first batch running", func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 })
	for range 2 {
		answers = append(answers, b.submit(&acceptRequest{}))
	}
	if st := b.state(); st.running != 1 || st.waiting != 2 {
		t.Fatalf("two waiting beside a running batch: %d lanes, %d waiting; want 1 and 2", st.running, st.waiting)
	}
	answers = append(answers, b.submit(&acceptRequest{}))
	waitUntil(t, "a second batch running", func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 2 })
	if st := b.state(); st.running != 2 || st.waiting != 0 {
		t.Fatalf("after the third waited: %d lanes, %d waiting; want 2 and 0", st.running, st.waiting)
	}
	close(release)
	for i, a := range answers {
		if res := <-a; !res.stored {
			t.Errorf("request %d: %+v", i, res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sizes, []int{1, 3}) {
		t.Errorf("batches of %v, want [1 3]", sizes)
	}
	waitUntil(t, "no lane running", func() bool { return b.state().running == 0 })
}

// TestBatcherSpillAfter: a request that waits spillAfter behind a batch
// that hangs starts another lane, however few wait.
func TestBatcherSpillAfter(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	batches := 0
	b := &batcher{lanes: 2, max: batchMax, spill: batchSpill, spillAfter: 20 * time.Millisecond}
	b.run = func(batch []*acceptRequest) {
		mu.Lock()
		batches++
		first := batches == 1
		mu.Unlock()
		if first {
			<-release // the first batch hangs
		}
		for _, r := range batch {
			r.done <- batchResult{stored: true}
		}
	}
	hung := b.submit(&acceptRequest{})
	waitUntil(t, "the first batch running", func() bool { mu.Lock(); defer mu.Unlock(); return batches == 1 })
	submitted := time.Now()
	if res := <-b.submit(&acceptRequest{}); !res.stored {
		t.Fatalf("the request behind the hung batch: %+v", res)
	}
	if waited := time.Since(submitted); waited < b.spillAfter {
		t.Errorf("stored after %s, before spillAfter (%s): a lane started early", waited, b.spillAfter)
	}
	select {
	case res := <-hung:
		t.Fatalf("the hung batch answered: %+v", res)
	default:
	}
	close(release)
	if res := <-hung; !res.stored {
		t.Fatalf("the hung batch: %+v", res)
	}
	waitUntil(t, "no lane running", func() bool { return b.state().running == 0 })
}

// batchRequest is a request of conversion order with the given key, as
// the service makes it, ready for storeBatch.
func batchRequest(t *testing.T, key, order, body string) *acceptRequest {
	t.Helper()
	msg, prefix, suffix, ok, err := splitValue(eventBuilder(order, "c-"+key))
	if err != nil || !ok {
		t.Fatalf("the service's message does not split: %v", err)
	}
	return newAcceptRequest(context.Background(), conversion.InboxEntry{Partner: "p", OrderID: order, IdempotencyKey: key,
		EventID: "ev-" + key, Source: "webhook", Method: "POST", BodyHash: []byte(body), Body: []byte(body), ReceivedAt: at},
		`{}`, msg, prefix, suffix)
}

// holdLanes keeps b from starting a lane: requests submitted wait.
func holdLanes(b *batcher) {
	b.mu.Lock()
	b.running = b.lanes
	b.mu.Unlock()
}

// runAsOneBatch waits until n requests wait in b (its lanes held), then
// runs them in one lane, as one batch.
func runAsOneBatch(t *testing.T, b *batcher, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d requests waiting", n), func() bool { return b.state().waiting == n })
	b.mu.Lock()
	b.running = 1 // the one lane started below
	b.mu.Unlock()
	go b.lane()
}

// batcherState is what a batcher holds at a moment.
type batcherState struct{ running, waiting int }

func (b *batcher) state() batcherState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return batcherState{b.running, len(b.waiting)}
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not after 10 s: %s", what)
		}
	}
}

// TestAcceptBatchStoresEachNewRequestOnce: a batch stores each request
// whose key is new, numbered in the batch's order, each with the event
// built with its number; a key taken before, or earlier in the same
// batch, stores nothing.
func TestAcceptBatchStoresEachNewRequestOnce(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	accept(t, s, db, "taken", at)
	batch := []*acceptRequest{
		batchRequest(t, "a", "A", `{"n":1}`),
		batchRequest(t, "b", "B", `{"n":2}`),
		batchRequest(t, "a", "A", `{"n":3}`), // a's key again, another body
		batchRequest(t, "taken", "T", `{}`),
		batchRequest(t, "c", "A", `{"n":4}`), // a's conversion again
	}
	stored, err := s.storeBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, false, true}; !slices.Equal(stored, want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
	var last int64
	for _, key := range []string{"a", "b", "c"} {
		var seq int64
		var value, body []byte
		if err := db.QueryRow(`SELECT i.accepted_seq, i.body, o.value FROM conversions.inbox i
			JOIN conversions.outbox o ON o.inbox_id = i.id WHERE i.idempotency_key = $1`, key).Scan(&seq, &body, &value); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		order := map[string]string{"a": "A", "b": "B", "c": "A"}[key]
		want, _ := eventBuilder(order, "c-"+key)(seq)
		if seq <= last || !bytes.Equal(value, want.Value) {
			t.Fatalf("%s: number %d after %d, event %s; want a larger number and the event built with it, %s", key, seq, last, value, want.Value)
		}
		if key == "a" && string(body) != `{"n":1}` {
			t.Fatalf("a's stored body is %s, want the first request's", body)
		}
		last = seq
	}
	if n := count(t, db, `SELECT count(*) FROM conversions.outbox`); n != 4 {
		t.Fatalf("%d events in the outbox, want 4 (taken, a, b, c)", n)
	}
}

// TestAcceptBatchRefusedForAValue: a batch the database refuses for one
// request's value stores nothing, and each of its requests is then stored
// alone, so only that request is refused (422), the others accepted.
func TestAcceptBatchRefusedForAValue(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	// Hold the lanes so that the three requests wait, then run them as
	// one batch.
	holdLanes(&s.batches)
	type outcome struct {
		key string
		err error
	}
	results := make(chan outcome, 3)
	for _, key := range []string{"good1", "bad", "good2"} {
		r := batchRequest(t, key, "O-"+key, `{}`)
		if key == "bad" {
			r.headers = `{"user-agent":"\u0000"}` // JSON, but no jsonb holds it
		}
		go func() {
			_, err := s.acceptBatched(ctx, r)
			results <- outcome{key, err}
		}()
	}
	runAsOneBatch(t, &s.batches, 3)
	for range 3 {
		o := <-results
		switch {
		case o.key == "bad" && !errors.Is(o.err, errs.Unprocessable):
			t.Fatalf("bad: %v, want a 422", o.err)
		case o.key != "bad" && o.err != nil:
			t.Fatalf("%s: %v", o.key, o.err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM conversions.inbox`); n != 2 {
		t.Fatalf("%d requests stored, want the 2 good ones", n)
	}
}

// TestBatcherQueueIsBoundedAndDropsTheGone: beyond batchQueueMax waiting
// requests a request is answered errQueueFull at once, and a request whose
// caller is gone before a lane takes it is answered with its context's
// error and never run.
func TestBatcherQueueIsBoundedAndDropsTheGone(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	ran := map[*acceptRequest]bool{}
	b := &batcher{lanes: 1, max: batchMax}
	b.run = func(batch []*acceptRequest) {
		<-release
		mu.Lock()
		for _, r := range batch {
			ran[r] = true
		}
		mu.Unlock()
		for _, r := range batch {
			r.done <- batchResult{stored: true}
		}
	}
	first := b.submit(&acceptRequest{}) // the lane takes it and waits
	waitUntil(t, "the lane took the first request", func() bool { return b.state().waiting == 0 })
	ctx, cancel := context.WithCancel(context.Background())
	gone := &acceptRequest{ctx: ctx}
	goneDone := b.submit(gone)
	cancel()
	var queued []<-chan batchResult
	for range batchQueueMax - 1 {
		queued = append(queued, b.submit(&acceptRequest{ctx: context.Background()}))
	}
	select {
	case res := <-b.submit(&acceptRequest{}):
		if !errors.Is(res.err, errQueueFull) {
			t.Fatalf("a request beyond the queue's bound: %+v, want errQueueFull", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request beyond the queue's bound was queued")
	}
	close(release)
	if res := <-first; !res.stored {
		t.Fatalf("first: %+v", res)
	}
	if res := <-goneDone; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("the request whose caller left: %+v, want context.Canceled", res)
	}
	for _, c := range queued {
		if res := <-c; !res.stored {
			t.Fatalf("a queued request: %+v", res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if ran[gone] {
		t.Fatal("the request whose caller left was run")
	}
}

// TestAcceptBatchesReusingEachOthersKeysDoNotDeadlock: two batches that
// share no conversion but each hold the other's idempotency keys (one
// webhook-id sent for two orders) wait for each other in one direction
// only: both finish, and each key is stored once.
func TestAcceptBatchesReusingEachOthersKeysDoNotDeadlock(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	for i := range 20 {
		x, y := "x"+strconv.Itoa(i), "y"+strconv.Itoa(i)
		batches := [][]*acceptRequest{
			{batchRequest(t, x, "A"+x, `{}`), batchRequest(t, y, "B"+y, `{}`)},
			{batchRequest(t, y, "C"+y, `{}`), batchRequest(t, x, "D"+x, `{}`)},
		}
		errc := make(chan error, 2)
		for _, batch := range batches {
			go func() {
				_, err := s.storeBatch(ctx, batch)
				errc <- err
			}()
		}
		for range 2 {
			if err := <-errc; err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
	}
	if n := count(t, db, `SELECT count(*) FROM conversions.inbox`); n != 40 {
		t.Fatalf("%d requests stored, want 40 (each key once)", n)
	}
}

// TestAcceptBatchWaitingOnAHeldConversion: a batch that waits past its
// lock_timeout for a conversion another transaction holds is stored one
// request at a time, so only that conversion's request waits.
func TestAcceptBatchWaitingOnAHeldConversion(t *testing.T) {
	s, db := migrated(t)
	ctx := context.Background()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, conversionLock("p", "HELD")); err != nil {
		t.Fatal(err)
	}
	holdLanes(&s.batches) // so that the two wait, then run as one batch
	results := map[string]chan error{"held": make(chan error, 1), "free": make(chan error, 1)}
	for key, order := range map[string]string{"held": "HELD", "free": "FREE"} {
		r := batchRequest(t, key, order, `{}`)
		go func() {
			_, err := s.acceptBatched(ctx, r)
			results[key] <- err
		}()
	}
	runAsOneBatch(t, &s.batches, 2)
	select {
	case err := <-results["free"]:
		if err != nil {
			t.Fatalf("free: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request of a free conversion waited for the held one")
	}
	select {
	case err := <-results["held"]:
		t.Fatalf("the held conversion's request finished while its lock was held: %v", err)
	default:
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-results["held"]; err != nil {
		t.Fatalf("held, once released: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM conversions.inbox`); n != 2 {
		t.Fatalf("%d requests stored, want 2", n)
	}
}
