package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// Requests that arrive together are stored together: the batcher hands
// the requests waiting at a moment to one call of accept_batch (migration
// 0008), one statement and one commit for all of them, where each request
// alone costs a statement, a commit and a WAL flush of its own. Nothing
// waits for a batch to fill: a lane takes whatever is waiting when it is
// free, so a request that finds no lane running is stored at once, alone,
// and batches grow only while a lane is busy, that is under load. Each
// request is answered only once its batch committed.
//
// A second lane starts beside a running one only once batchSpill
// requests wait. Below that, the requests that arrive during a batch go
// together in the next one instead of each starting a small batch of its
// own: a transaction costs PostgreSQL several times what a request in it
// does, and with two lanes always busy PostgreSQL's CPU for conversions
// stayed about the same whatever the rate, taking the cores' time from
// reporting. Measured on make run's stack with reporting live (issue 15,
// three alternating pairs of 15 s at 3,500 webhooks/s): PostgreSQL's CPU
// for conversions 130–135 µs a webhook against 147–149, the p99 32–40 ms
// against 36–49. A batch that hangs (a lock waited for up to
// lock_timeout, a server that stopped answering) would then hold the
// requests behind it at a trickle, fewer than batchSpill: so a request
// that has waited batchSpillAfter also starts another lane. A lane, once
// started, runs until nothing waits; stopping the second as soon as
// fewer than batchSpill waited measured the same (three pairs).
const (
	batchLanes      = 2   // batches in flight at once (connections they hold)
	batchMax        = 128 // requests per batch at most
	batchSpill      = 16  // requests waiting that start a lane beside a running one
	batchSpillAfter = 25 * time.Millisecond
	batchTimeout    = 30 * time.Second
	// batchQueueMax bounds the requests waiting for a lane: beyond it (the
	// database far slower than the requests coming in) a request is
	// answered 503 at once rather than queued.
	batchQueueMax = 32 * batchMax
)

// errQueueFull answers a request that finds batchQueueMax requests
// waiting.
var errQueueFull = errors.New("too many requests waiting for the database")

// acceptRequest is a request waiting for its batch, with its event cut
// around the acceptance number (splitValue).
type acceptRequest struct {
	ctx            context.Context // the caller's: once it is done, the request is not stored
	in             conversion.InboxEntry
	headers        string // the request's audit headers, JSON
	msg            conversion.OutboxMessage
	msgHeaders     string // the event's headers, JSON
	prefix, suffix []byte
	queued         time.Time        // when it was submitted
	done           chan batchResult // buffered: the lane never waits for the caller
}

// batchResult is what became of a request in its batch.
type batchResult struct {
	stored bool // false: its idempotency key was taken
	// alone: the batch was refused for a value (database.IsDataError)
	// and nothing of it was stored; the request must be stored on its own
	// to learn whether it holds that value.
	alone bool
	err   error
}

// batcher runs the requests submitted to it in batches of at most max,
// with at most lanes batches in flight, the second and later only once
// spill requests wait or one has waited spillAfter. A lane is a
// goroutine that lives while requests wait, so an idle batcher holds none.
type batcher struct {
	lanes, max int
	// spill is how many requests must wait for another lane to start
	// beside a running one (0: a lane starts whenever one is free), and
	// spillAfter how long one must have waited (0: no limit).
	spill      int
	spillAfter time.Duration
	run        func([]*acceptRequest) // stores a batch and answers each of its requests

	mu      sync.Mutex
	waiting []*acceptRequest
	running int
	// spillTimer looks at the oldest waiting request spillAfter after it
	// was armed (spillArmed), while a lane is free.
	spillTimer *time.Timer
	spillArmed bool
}

// submit queues r and returns the channel its result comes on; with
// batchQueueMax requests waiting already, the result is errQueueFull.
func (b *batcher) submit(r *acceptRequest) <-chan batchResult {
	r.done = make(chan batchResult, 1)
	b.mu.Lock()
	if len(b.waiting) >= batchQueueMax {
		b.mu.Unlock()
		r.done <- batchResult{err: errQueueFull}
		return r.done
	}
	r.queued = time.Now()
	b.waiting = append(b.waiting, r)
	start := b.running == 0 || (b.running < b.lanes && len(b.waiting) >= b.spill)
	if start {
		b.running++
	} else {
		b.armSpill(b.spillAfter)
	}
	b.mu.Unlock()
	if start {
		go b.lane()
	}
	return r.done
}

// armSpill, with b.mu held, has spillLate look at the waiting requests
// after d, unless it is armed already, no lane is free, or there is no
// spillAfter.
func (b *batcher) armSpill(d time.Duration) {
	if b.spillAfter <= 0 || b.spillArmed || b.running >= b.lanes {
		return
	}
	b.spillArmed = true
	if b.spillTimer == nil {
		b.spillTimer = time.AfterFunc(d, b.spillLate)
	} else {
		b.spillTimer.Reset(d)
	}
}

// spillLate starts a lane when the oldest waiting request has waited
// spillAfter and a lane is free; otherwise it looks again when that one
// will have.
func (b *batcher) spillLate() {
	b.mu.Lock()
	b.spillArmed = false
	start := false
	if len(b.waiting) > 0 && b.running < b.lanes {
		if waited := time.Since(b.waiting[0].queued); waited >= b.spillAfter {
			start = true
			b.running++
		} else {
			b.armSpill(b.spillAfter - waited)
		}
	}
	b.mu.Unlock()
	if start {
		go b.lane()
	}
}

// lane runs batches until nothing waits. A request whose caller is gone
// (its context done: the caller answered 503) is dropped, not stored.
func (b *batcher) lane() {
	for {
		b.mu.Lock()
		if len(b.waiting) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		n := min(len(b.waiting), b.max)
		batch := make([]*acceptRequest, 0, n)
		for _, r := range b.waiting[:n] {
			if r.ctx != nil && r.ctx.Err() != nil {
				r.done <- batchResult{err: r.ctx.Err()}
				continue
			}
			batch = append(batch, r)
		}
		rest := copy(b.waiting, b.waiting[n:])
		clear(b.waiting[rest:])
		b.waiting = b.waiting[:rest]
		b.mu.Unlock()
		if len(batch) > 0 {
			b.run(batch)
		}
	}
}

// isLockWait reports whether a statement gave up waiting for a lock
// (lock_timeout), or was chosen to end a deadlock.
func isLockWait(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "55P03" || pqErr.Code == "40P01")
}

// acceptBatchSQL calls accept_batch; prepared once per pool.
const acceptBatchSQL = `SELECT * FROM conversions.accept_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`

// runBatch stores a batch and answers each of its requests. A batch of
// more than one that the database refuses for one request's sake sends
// each request to be stored alone, so that only that request fails: a
// value refused (database.IsDataError), or a lock accept_batch waited for
// longer than its lock_timeout (another transaction holding one of the
// batch's conversions). Any other failure is every request's.
func (s *Store) runBatch(batch []*acceptRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	stored, err := s.storeBatch(ctx, batch)
	alone := err != nil && len(batch) > 1 && (database.IsDataError(err) || isLockWait(err))
	for i, r := range batch {
		switch {
		case alone:
			r.done <- batchResult{alone: true}
		case err != nil:
			r.done <- batchResult{err: err}
		default:
			r.done <- batchResult{stored: stored[i]}
		}
	}
}

// storeBatch runs accept_batch and returns, for each request, whether it
// was stored (false: its idempotency key was taken). It returns once the
// statement's transaction ended: rows.Next reads the server's answer up to
// ReadyForQuery, which comes after the commit, and rows.Err holds a
// failed commit.
func (s *Store) storeBatch(ctx context.Context, batch []*acceptRequest) ([]bool, error) {
	stmt, err := s.prepared(ctx, &s.acceptBatchStmt, acceptBatchSQL)
	if err != nil {
		return nil, err
	}
	n := len(batch)
	locks := make([]int64, n)
	partners, keys, eventIDs, sources, methods := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	headers, queries, received, topics, msgHeaders := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hashes, bodies, prefixes, suffixes, msgKeys := make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i, r := range batch {
		in := r.in
		locks[i] = conversionLock(in.Partner, in.OrderID)
		partners[i], keys[i], eventIDs[i], sources[i], methods[i] = in.Partner, in.IdempotencyKey, in.EventID, in.Source, in.Method
		headers[i], queries[i], received[i] = r.headers, in.Query, in.ReceivedAt.UTC().Format(time.RFC3339Nano)
		hashes[i], bodies[i], prefixes[i], suffixes[i] = in.BodyHash, in.Body, r.prefix, r.suffix
		topics[i], msgKeys[i], msgHeaders[i] = r.msg.Topic, r.msg.Key, r.msgHeaders
	}
	// Arrays in binary (database.TextArray), but for the times: text the
	// server reads as timestamptz as it always has.
	rows, err := stmt.QueryContext(ctx, database.Int8Array(locks), database.TextArray(partners), database.TextArray(keys),
		database.ByteaArray(hashes), database.TextArray(eventIDs), database.TextArray(sources), database.TextArray(methods),
		database.TextArray(headers), database.TextArray(queries), database.ByteaArray(bodies), pq.Array(received),
		database.ByteaArray(prefixes), database.ByteaArray(suffixes), database.TextArray(topics),
		database.ByteaArray(msgKeys), database.TextArray(msgHeaders))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make([]bool, n)
	for rows.Next() {
		var ord int
		if err := rows.Scan(&ord); err != nil {
			return nil, err
		}
		if ord < 1 || ord > n {
			return nil, fmt.Errorf("accept_batch returned ordinal %d of a batch of %d", ord, n)
		}
		stored[ord-1] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return stored, nil
}
