// Package pollwait lets a background goroutine step aside until Go's
// scheduler next polls the network.
//
// With one processor (a service given one core), the scheduler looks for
// goroutines the network woke only when no goroutine is ready to run, or
// from sysmon every 10 ms. Requests that arrive meanwhile wait in the
// kernel. A background goroutine that yields (runtime.Gosched) or sleeps
// briefly between slices of its work is back on the run queue before the
// queue empties, so under load it still runs all its slices before the
// next poll: a shipper batch's 2-3 ms of encoding and compression held
// every new request back by that much (a runtime trace of the pinned
// redirect, issue 15, docs/performance.md).
//
// A Waiter parks its goroutine on a file the network poller watches, a
// timer file that fires a few microseconds later. Only a poll wakes it,
// so each slice of the background work runs after the requests that
// arrived before it. On a core with nothing else to do the wait is those
// microseconds, as the poller then blocks in the kernel until the timer
// fires.
package pollwait
