package pollwait

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

// busyFor keeps the only processor's run queue from emptying: two
// goroutines hand a token back and forth n times, so at every instant one
// of them is ready to run. It returns when they are done.
func busyFor(n int) (done *atomic.Bool, took chan time.Duration) {
	done, took = &atomic.Bool{}, make(chan time.Duration, 1)
	ping, pong := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		for range n {
			ping <- struct{}{}
			<-pong
		}
		done.Store(true)
		took <- time.Since(start)
	}()
	go func() {
		for range n {
			<-ping
			pong <- struct{}{}
		}
	}()
	return done, took
}

// TestWaitReturnsOnlyAfterAPoll is the package's reason to be: with one
// processor, a goroutine that sleeps briefly is back before the run
// queue empties, while one that waits with a Waiter returns only once the
// scheduler ran out of ready goroutines and polled.
func TestWaitReturnsOnlyAfterAPoll(t *testing.T) {
	w := New()
	defer w.Close()
	if w.t == nil {
		t.Fatal("no timer file on linux")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// A collection starting the world again polls the network too.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC() // none running either
	const n = 4000
	// Other things poll now and then (a collection starting the world
	// again, sysmon), in clusters, so the test counts: a Waiter waits for
	// the spell's end in nearly every spell (it returned early in 20 of
	// 3,000, a few at a time), a sleep in none.
	conclusive, waited := 0, 0
	for attempt := 0; attempt < 60 && conclusive < 40; attempt++ {
		// A poll now, so that sysmon's (when nobody polled for 10 ms)
		// does not come during the busy spell.
		time.Sleep(time.Millisecond)
		done, took := busyFor(n)
		w.Wait()
		finished := done.Load()
		if d := <-took; d >= MaxWait-time.Millisecond {
			continue // too slow a machine for this attempt: MaxWait may have ended the wait
		}
		conclusive++
		if finished {
			waited++
		}
	}
	if conclusive < 20 {
		t.Fatalf("in 60 attempts %d hand-offs took under %v only %d times", n, MaxWait-time.Millisecond, conclusive)
	}
	if waited*2 < conclusive {
		t.Fatalf("Wait returned during %d of %d spells of %d hand-offs that kept the run queue busy: it did not wait for a poll",
			conclusive-waited, conclusive, n)
	}

	// The control: a short sleep returns in the middle of the same
	// spell, which is why the package exists.
	time.Sleep(time.Millisecond)
	done, took := busyFor(n)
	time.Sleep(fallbackPause)
	finished := done.Load()
	<-took
	if finished {
		t.Logf("control: a %v sleep outlasted %d hand-offs (a slow scheduler?)", fallbackPause, n)
	}
}

func TestWaitIsBoundedByMaxWait(t *testing.T) {
	w := New()
	defer w.Close()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // always ready: the scheduler never runs out of work
		for {
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	start := time.Now()
	w.Wait()
	if d := time.Since(start); d > 20*MaxWait {
		t.Fatalf("Wait took %v with the run queue never empty; MaxWait is %v", d, MaxWait)
	}
}

func TestWaitWithoutATimerFileSleeps(t *testing.T) {
	for _, w := range []*Waiter{nil, {}} {
		start := time.Now()
		w.Wait()
		if d := time.Since(start); d < fallbackPause {
			t.Fatalf("%v: not a pause", d)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWaitAgainAfterClose(t *testing.T) {
	w := New()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Wait() // falls back to a sleep
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWait is the cost of one wait on an idle processor: the timer's
// microseconds and the system calls around them.
func BenchmarkWait(b *testing.B) {
	w := New()
	defer w.Close()
	for b.Loop() {
		w.Wait()
	}
}
