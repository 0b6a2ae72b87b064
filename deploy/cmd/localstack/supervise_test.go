package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// fakeRun is a started child that exits when told to.
type fakeRun struct {
	done      chan struct{}
	err       error
	once      sync.Once
	stopped   bool
	continued bool
	onStop    func()
	stopLock  sync.Mutex
}

func newFakeRun() *fakeRun               { return &fakeRun{done: make(chan struct{})} }
func (f *fakeRun) Done() <-chan struct{} { return f.done }
func (f *fakeRun) Err() error            { return f.err }
func (f *fakeRun) exit(err error)        { f.once.Do(func() { f.err = err; close(f.done) }) }
func (f *fakeRun) Continue() {
	f.stopLock.Lock()
	f.continued = true
	f.stopLock.Unlock()
}

func (f *fakeRun) Stop() error {
	f.stopLock.Lock()
	f.stopped = true
	f.stopLock.Unlock()
	if f.onStop != nil {
		f.onStop()
	}
	f.exit(nil)
	return nil
}

// starts counts a child's starts and hands out its processes.
type starts struct {
	mu   sync.Mutex
	runs []*fakeRun
	fail error // when set, a start fails
}

func (s *starts) start(context.Context) (running, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	r := newFakeRun()
	s.runs = append(s.runs, r)
	return r, nil
}

func (s *starts) last() (*fakeRun, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[len(s.runs)-1], len(s.runs)
}

// supervised is a stack with one child per name, each started once.
func supervised(firstDelay time.Duration, names ...string) (*stack, map[string]*starts) {
	st := &stack{firstDelay: firstDelay}
	all := map[string]*starts{}
	for _, name := range names {
		s := &starts{}
		r, _ := s.start(context.Background())
		st.add(&child{name: name, log: name + ".log", start: s.start, cur: r})
		all[name] = s
	}
	return st, all
}

func TestSuperviseRestartsAChildThatDies(t *testing.T) {
	st, all := supervised(time.Millisecond, "redirect", "devbroker")
	redirect, broker := all["redirect"], all["devbroker"]
	ctx, cancel := context.WithCancel(context.Background())
	var out testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- st.supervise(ctx, &out) }()

	killed := errors.New("signal: killed")
	for i := 2; i <= 3; i++ { // killed twice: started twice more
		r, _ := redirect.last()
		r.exit(killed)
		waitFor(t, func() bool { _, n := redirect.last(); return n == i })
	}
	if _, n := broker.last(); n != 1 {
		t.Errorf("the broker was started %d times; only redirect died", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("supervise: %v", err)
	}
	if err := st.stop(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*starts{redirect, broker} {
		if r, _ := s.last(); !r.stopped {
			t.Error("a running child was not stopped")
		}
	}
	if got := out.String(); !strings.Contains(got, "redirect exited (signal: killed); starting it again in 1ms (log: redirect.log)") ||
		!strings.Contains(got, "redirect started again") {
		t.Errorf("output:\n%s", got)
	}
}

func TestSuperviseGivesUpOnACrashLoop(t *testing.T) {
	st, all := supervised(time.Millisecond, "reporting")
	reporting := all["reporting"]
	var out testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- st.supervise(context.Background(), &out) }()
	go func() { // every start exits at once
		for {
			select {
			case <-done:
				return
			default:
			}
			r, _ := reporting.last()
			r.exit(errors.New("exit status 1"))
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case err := <-done:
		done <- err
		if err == nil || !strings.Contains(err.Error(), "reporting exited (exit status 1) 5 times in a row") {
			t.Fatalf("supervise = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervise did not give up on a crash loop")
	}
	if _, n := reporting.last(); n != maxQuickExits {
		t.Errorf("started %d times, want %d", n, maxQuickExits)
	}
}

func TestSuperviseGivesUpWhenAChildCannotStart(t *testing.T) {
	st, all := supervised(time.Millisecond, "postgres")
	pg := all["postgres"]
	r, _ := pg.last()
	pg.fail = errors.New("port in use")
	var out testkit.SyncBuffer
	r.exit(errors.New("signal: killed"))
	err := st.supervise(context.Background(), &out)
	if err == nil || !strings.Contains(err.Error(), "did not start: port in use") {
		t.Fatalf("supervise = %v\n%s", err, out.String())
	}
}

func TestSuperviseStopsWaitingWhenAsked(t *testing.T) {
	st, all := supervised(time.Hour, "conversions") // the wait is capped at maxRestartDelay
	r, _ := all["conversions"].last()
	ctx, cancel := context.WithCancel(context.Background())
	var out testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- st.supervise(ctx, &out) }()
	r.exit(errors.New("signal: killed"))
	waitFor(t, func() bool { return strings.Contains(out.String(), "starting it again in 16s") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("supervise did not return while it waited to restart")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStopContinuesThenStopsLayerByLayer: everything paused is continued
// first (a service waiting on a paused PostgreSQL sat out its 30 s grace
// period, one after another: an outside check's Ctrl-C took 110 s), then
// the services stop side by side, then the broker, then PostgreSQL.
func TestStopContinuesThenStopsLayerByLayer(t *testing.T) {
	var st stack
	var mu sync.Mutex
	var order []string
	servicesStopping := make(chan struct{}, 3)
	release := make(chan struct{})
	for _, c := range []struct {
		name  string
		layer int
	}{{"postgres", layerPostgres}, {"devbroker", layerBroker}, {"redirect", layerServices}, {"conversions", layerServices}, {"reporting", layerServices}} {
		r := newFakeRun()
		r.onStop = func() {
			if c.layer == layerServices {
				servicesStopping <- struct{}{}
				<-release // each service waits until all three are stopping
			}
			mu.Lock()
			order = append(order, c.name)
			mu.Unlock()
		}
		st.add(&child{name: c.name, layer: c.layer, cur: r})
	}
	go func() {
		for range 3 {
			<-servicesStopping
		}
		close(release)
	}()
	done := make(chan struct{})
	go func() { st.stop(&testkit.SyncBuffer{}); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not stop the services side by side")
	}
	for _, c := range st.children {
		if !c.cur.(*fakeRun).continued {
			t.Errorf("%s was not continued", c.name)
		}
	}
	if len(order) != 5 || order[3] != "devbroker" || order[4] != "postgres" {
		t.Errorf("stopped in the order %v: the services, then devbroker, then postgres", order)
	}
}
