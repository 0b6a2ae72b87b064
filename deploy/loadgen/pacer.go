package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// duePacer paces a load at a fixed rate without coordinated omission.
// Request n falls due at began + n*interval. Each worker claims the next
// due time, waits until it comes and sends the request; one that fell
// due while every worker was busy goes out, in order, as soon as a worker
// is free, as a partner's dispatcher or a crowd of visitors would send
// it. Its latency counts from when it fell due, not from when a worker
// got to it, so a stall of the server shows in the latency of everything
// it held back. What fell due in the run and was not sent by its end is
// counted as not sent.
type duePacer struct {
	began    time.Time
	interval time.Duration
	deadline time.Time // nothing falls due from then on; zero: no deadline
	limit    int64     // the most requests that fall due; 0: no limit
	claimed  atomic.Int64
}

// newDuePacer paces rate requests a second from began. deadline (from a
// context's Deadline; zero for none) and limit (0 for none) end the run.
func newDuePacer(began time.Time, rate float64, deadline time.Time, limit int64) *duePacer {
	return &duePacer{began: began, interval: max(time.Duration(float64(time.Second)/rate), 1), deadline: deadline, limit: limit}
}

// next claims the next due time and waits until it comes. It returns
// false when the run is over: ctx ended, or no more requests fall due.
func (p *duePacer) next(ctx context.Context) (time.Time, bool) {
	n := p.claimed.Add(1)
	if p.limit > 0 && n > p.limit {
		return time.Time{}, false
	}
	at := p.began.Add(time.Duration(n-1) * p.interval)
	if !p.deadline.IsZero() && !at.Before(p.deadline) {
		return time.Time{}, false
	}
	if d := time.Until(at); d > 0 {
		pause(ctx, d)
	}
	return at, ctx.Err() == nil
}

// notSent is how many requests fell due between began and end (or the
// deadline, if sooner) beyond the sent ones.
func (p *duePacer) notSent(end time.Time, sent int64) int64 {
	if !p.deadline.IsZero() && p.deadline.Before(end) {
		end = p.deadline
	}
	due := int64((end.Sub(p.began) + p.interval - 1) / p.interval)
	if p.limit > 0 {
		due = min(due, p.limit)
	}
	return max(due-sent, 0)
}
