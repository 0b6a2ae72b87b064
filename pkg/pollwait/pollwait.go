package pollwait

import "time"

// fallbackPause is the wait where no timer file can be made: a sleep,
// which lets other goroutines run but does not wait for a poll.
const fallbackPause = 50 * time.Microsecond

// Waiter parks the goroutine that calls Wait until the next poll. One
// goroutine uses a Waiter at a time; the zero Waiter and a nil one sleep
// fallbackPause instead.
type Waiter struct {
	t *timerFile // nil: sleep instead
}

// New returns a Waiter. Where the system offers no timer file it falls
// back to a short sleep, which is never an error.
func New() *Waiter {
	t, err := openTimerFile()
	if err != nil {
		return &Waiter{}
	}
	return &Waiter{t: t}
}

// MaxWait bounds a Wait: a process whose goroutines never leave the
// run queue empty is polled only by sysmon, up to 20 ms apart, and its
// background work would crawl.
const MaxWait = 5 * time.Millisecond

// Wait returns after the runtime's network poller has run (or MaxWait),
// or after fallbackPause without a timer file. The poll may be another
// thread's, sooner than the scheduler's own; and a thread held up (on a
// loaded machine) between arming the timer and parking longer than the
// timer's 20 µs returns without one, rarely (TestWaitReturnsOnlyAfterAPoll).
func (w *Waiter) Wait() { w.wait() }

// wait is Wait, reporting whether it waited in the poller: a wait that
// did not (its thread held up until the timer fired, or the fallback
// sleep) waited for no poll (TestWaitReturnsOnlyAfterAPoll).
func (w *Waiter) wait() (parked bool) {
	if w != nil && w.t != nil {
		if ok, parked := w.t.wait(); ok {
			return parked
		}
	}
	time.Sleep(fallbackPause)
	return false
}

// Close releases the timer file. A Waiter dropped without Close releases
// it when the garbage collector frees it (os.File's cleanup).
func (w *Waiter) Close() error {
	if w == nil || w.t == nil {
		return nil
	}
	t := w.t
	w.t = nil
	return t.close()
}
