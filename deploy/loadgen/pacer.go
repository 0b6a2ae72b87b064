package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// duePacer hands a load's workers their requests.
//
// At a rate it paces without coordinated omission. Request n falls due at
// began + n*interval. Each worker claims the next due time, waits until it
// comes and sends the request; one that fell due while every worker was
// busy goes out, in order, as soon as a worker is free, as a partner's
// dispatcher or a crowd of visitors would send it (after a stall of the
// server, the backlog goes out at once, at full concurrency). Its latency
// counts from when it fell due, not from when a worker got to it, so a
// stall shows in the latency of everything it held back. What fell due in
// the run and was not sent by its end is counted as not sent.
//
// Without a rate (closed loop) each worker sends its next request as soon
// as it has the answer to the last, and a latency counts from the send.
type duePacer struct {
	began    time.Time
	interval time.Duration // 0: closed loop
	deadline time.Time     // nothing falls due from then on; zero: no deadline
	limit    int64         // the most requests handed out; 0: no limit
	claimed  atomic.Int64
	stopped  atomic.Int64 // when the run's context ended (stopsWith), in UnixNano; 0: not yet
}

// Bounds of the interval between due times, so that n*interval cannot
// overflow for any number of requests a run could claim.
const (
	minInterval = time.Nanosecond
	maxInterval = 24 * time.Hour
)

// newDuePacer paces rate requests a second from began (closed loop when
// rate <= 0). deadline (from a context's Deadline; zero for none) and
// limit (0 for none) end the run.
func newDuePacer(began time.Time, rate float64, deadline time.Time, limit int64) *duePacer {
	p := &duePacer{began: began, deadline: deadline, limit: limit}
	if rate > 0 {
		p.interval = maxInterval
		if iv := float64(time.Second) / rate; iv < float64(maxInterval) {
			p.interval = max(time.Duration(iv), minInterval)
		}
	}
	return p
}

// pace starts pacing a run whose context is ctx, from began: its deadline
// ends the schedule, and nothing due after it ends counts as not sent.
// A run of a set duration takes its deadline from the same began
// (runContext), so the schedule holds exactly duration × rate requests
// however long the run took to start. stop, once the run is over, stops
// watching ctx.
func pace(ctx context.Context, began time.Time, rate float64, limit int64) (p *duePacer, stop func() bool) {
	deadline, _ := ctx.Deadline()
	p = newDuePacer(began, rate, deadline, limit)
	return p, p.stopsWith(ctx)
}

// runContext is a run's context, which ends duration after began (never,
// for a duration of 0, but with ctx), and its cancel.
func runContext(ctx context.Context, began time.Time, duration time.Duration) (context.Context, context.CancelFunc) {
	if duration > 0 {
		return context.WithDeadline(ctx, began.Add(duration))
	}
	return context.WithCancel(ctx)
}

// next claims the next request and, at a rate, waits until it is due. It
// returns the due time, from which the request's latency counts (zero in a
// closed loop: then it counts from the send), or false when the run is
// over: ctx ended, or no more requests fall due.
func (p *duePacer) next(ctx context.Context) (time.Time, bool) {
	n := p.claimed.Add(1)
	if p.limit > 0 && n > p.limit {
		return time.Time{}, false
	}
	if p.interval == 0 {
		return time.Time{}, ctx.Err() == nil
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

// startOf is when a request due at due (next's answer) counts from: its
// due time, or now, just before its send, in a closed loop.
func startOf(due time.Time) time.Time {
	if due.IsZero() {
		return time.Now()
	}
	return due
}

// stopsWith notes when ctx, the run's, ends: nothing that falls due after
// that counts as not sent, however long the requests in flight then take.
// The returned func stops watching.
func (p *duePacer) stopsWith(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { p.stopped.CompareAndSwap(0, time.Now().UnixNano()) })
}

// notSent is, at a rate, how many requests fell due between began and end
// (or the deadline, or when the run was stopped, if sooner) beyond the
// sent ones; 0 in a closed loop.
func (p *duePacer) notSent(end time.Time, sent int64) int64 {
	if p.interval == 0 {
		return 0
	}
	if !p.deadline.IsZero() && p.deadline.Before(end) {
		end = p.deadline
	}
	if s := p.stopped.Load(); s != 0 && s < end.UnixNano() {
		end = time.Unix(0, s)
	}
	due := int64((end.Sub(p.began) + p.interval - 1) / p.interval)
	if p.limit > 0 {
		due = min(due, p.limit)
	}
	return max(due-sent, 0)
}
