package postgres

import (
	"context"
	"time"
)

// copyGate lets one of a process's click transactions at a time COPY its
// clicks and their rollup deltas. PostgreSQL 15 spends about half as
// much CPU again on rows COPYed by three sessions at once into one table
// as on the same rows from one: 2.04-2.15 s against 1.33-1.42 s for
// 297,000 of make bench's clicks, into a partitioned table or not (and
// 1.30 against 0.82 s without the primary key), in the same wall time.
// Ingest shares two cores with reporting's own decoding, so that CPU was
// taken from it (issue 15). The consumers still decode, look up keys and
// commit side by side; a turn covers the COPYs and the building of their
// rows (and, for a redelivered batch, the look for the clicks stored
// already).
//
// A turn is waited for at most copyGateWait, then the COPY goes ahead
// anyway, as every COPY did before the gate. A transaction enters the
// gate once, before it holds any click row, so no turn waits inside
// PostgreSQL for a transaction that waits for the gate; but a turn can
// last long when its COPY waits for another replica's transaction (the
// same click stored by both across a rebalance), and the others should
// not wait for that. Whatever holds a turn, the gate adds at most the
// bound to any wait the consumers had without it.
type copyGate struct {
	turn chan struct{} // holds a token during a turn
	wait time.Duration // the longest wait for a turn
}

// copyGateWait bounds the wait for a turn: several times a batch's COPY
// (a batch of 20,000 clicks COPYs in 0.1-0.2 s).
const copyGateWait = 2 * time.Second

func newCopyGate(wait time.Duration) *copyGate {
	return &copyGate{turn: make(chan struct{}, 1), wait: wait}
}

// enter waits for a turn, at most g.wait, and returns what ends it
// (nothing, when the wait ran out). An error is ctx's.
func (g *copyGate) enter(ctx context.Context) (leave func(), err error) {
	select {
	case g.turn <- struct{}{}:
		return g.leave, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.turn <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		return func() {}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *copyGate) leave() { <-g.turn }
