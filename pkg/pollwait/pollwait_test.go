package pollwait

import (
	"os"
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

// pollProbe is a goroutine parked in the poller on a pipe that already
// holds a byte: only a poll of the network can wake it, and once one has,
// it runs at the next turn of the scheduler. polled reports whether it
// has, giving it that turn first.
type pollProbe struct {
	r, w *os.File
	got  atomic.Bool
}

func newPollProbe(t *testing.T) *pollProbe {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pollProbe{r: r, w: w}
	parked := make(chan struct{})
	go func() {
		close(parked)
		var b [1]byte
		if n, _ := r.Read(b[:]); n == 1 {
			p.got.Store(true)
		}
	}()
	<-parked
	runtime.Gosched() // with one processor, the reader now reads and parks
	if _, err := w.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pollProbe) polled() bool {
	// One turn may go to the global run queue first (every 61st), where
	// the caller's Gosched put it: three turns.
	for range 3 {
		runtime.Gosched()
	}
	return p.got.Load()
}

func (p *pollProbe) close() { p.w.Close(); p.r.Close() }

// TestWaitReturnsOnlyAfterAPoll is the package's reason to be: with one
// processor, a goroutine that sleeps briefly is back before the run
// queue empties, while one that waits with a Waiter returns only once
// the network has been polled, which a probe (a pipe holding a byte
// before the wait, read by a goroutine parked in the poller) shows.
// Usually the one poll is the scheduler's, once the run queue empties;
// another thread blocked in the poller may poll sooner, and then Wait
// returns sooner, after that poll, as it should.
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
	conclusive, early, unpolled, unparked := 0, 0, 0, 0
	for attempt := 0; attempt < 400 && conclusive < 40; attempt++ {
		// A poll now, so that sysmon's (when nobody polled for 10 ms)
		// does not come during the busy spell.
		time.Sleep(time.Millisecond)
		probe := newPollProbe(t)
		done, took := busyFor(n)
		start := time.Now()
		parked := w.wait()
		waited := time.Since(start)
		polled, finished := probe.polled(), done.Load()
		probe.close()
		if d := <-took; d >= MaxWait-time.Millisecond || waited >= MaxWait-time.Millisecond {
			// Too slow a machine for this attempt (a loaded one may hold
			// the thread for milliseconds): MaxWait may have ended the
			// wait, before any poll.
			continue
		}
		if !parked {
			// The thread was held up between arming the timer and
			// reading it (preempted on a loaded machine) until the timer
			// fired: the read found it at once and waited for no poll.
			// A fresh-clone CI run saw this in 25 attempts in a row.
			unparked++
			continue
		}
		conclusive++
		if !polled {
			unpolled++
			t.Logf("attempt %d: Wait returned before the network was polled (the busy spell finished: %v)", attempt, finished)
		}
		if !finished {
			early++
		}
	}
	if conclusive < 10 {
		t.Fatalf("in 400 attempts only %d had %d hand-offs take under %v and the wait park in the poller (%d did not park)",
			conclusive, n, MaxWait-time.Millisecond, unparked)
	}
	t.Logf("%d conclusive attempts (%d more did not park); in %d a poll came before the busy spell ended", conclusive, unparked, early)
	// Every wait that parked was woken by a poll, which woke the probe
	// too. A quarter of misses is allowed for what this test has not
	// seen: before it counted only waits that parked, a sleep missed 40
	// of 40 and a loaded machine up to 25 of 40.
	if unpolled*4 > conclusive {
		t.Errorf("in %d of %d attempts Wait returned before the network was polled", unpolled, conclusive)
	}

	// The control: a short sleep returns in the middle of the same
	// spell, before any poll, which is why the package exists.
	time.Sleep(time.Millisecond)
	probe := newPollProbe(t)
	defer probe.close()
	done, took := busyFor(n)
	time.Sleep(fallbackPause)
	polled, finished := probe.polled(), done.Load()
	<-took
	if polled || finished {
		t.Logf("control: a %v sleep returned after a poll (%v) or after %d hand-offs (%v)", fallbackPause, polled, n, finished)
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
