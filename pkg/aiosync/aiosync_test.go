package aiosync

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func dirtyFile(t *testing.T, bytes int) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(make([]byte, bytes)); err != nil {
		t.Fatal(err)
	}
	return f
}

// repeatUntil calls f until stop is closed.
func repeatUntil(stop <-chan struct{}, f func()) {
	for {
		select {
		case <-stop:
			return
		default:
			f()
		}
	}
}

// TestSyncLeavesTheProcessorFree: the sync goes through asynchronous I/O
// and, with one processor, another goroutine runs while the disk works.
// (A plain fsync of 4 MB passes the second check too when sysmon is
// awake, as in a process that just started; the first is the one that
// tells them apart.)
func TestSyncLeavesTheProcessorFree(t *testing.T) {
	s := New()
	defer s.Close()
	if runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") && s.a == nil {
		t.Fatal("no asynchronous I/O context on linux")
	}
	f := dirtyFile(t, 4<<20)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ran atomic.Int64
	stop := make(chan struct{})
	go repeatUntil(stop, func() { ran.Add(1); runtime.Gosched() })
	runtime.Gosched()
	before := ran.Load()
	err := s.Sync(f)
	during := ran.Load() - before
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if s.Async() != 1 {
		t.Fatalf("%d asynchronous syncs, want 1", s.Async())
	}
	if during == 0 {
		t.Fatal("no other goroutine ran while 4 MB were synced")
	}
}

func TestSyncAgainAndAfterClose(t *testing.T) {
	s := New()
	f := dirtyFile(t, 1<<10)
	for range 3 {
		if err := s.Sync(f); err != nil {
			t.Fatal(err)
		}
	}
	want := s.Async()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(f); err != nil { // the plain way now
		t.Fatal(err)
	}
	if s.Async() != want {
		t.Fatalf("a sync after Close went through asynchronous I/O")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSyncOfAClosedFileFails(t *testing.T) {
	s := New()
	defer s.Close()
	f := dirtyFile(t, 1)
	f.Close()
	if err := s.Sync(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("got %v, want os.ErrClosed", err)
	}
}

func TestNilAndZeroSyncersSyncThePlainWay(t *testing.T) {
	f := dirtyFile(t, 1)
	for _, s := range []*Syncer{nil, {}} {
		if err := s.Sync(f); err != nil {
			t.Fatal(err)
		}
		if s.Async() != 0 {
			t.Fatal("asynchronous without a context")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkSync is one sync of 64 KB of new data each way.
func BenchmarkSync(b *testing.B) {
	for _, tt := range []struct {
		name string
		s    *Syncer
	}{{"plain", nil}, {"async", New()}} {
		b.Run(tt.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "segment"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 64<<10)
			for b.Loop() {
				f.Write(buf)
				if err := tt.s.Sync(f); err != nil {
					b.Fatal(err)
				}
			}
			tt.s.Close()
		})
	}
}

//go:noinline
func deepStack(n int) int {
	var pad [1024]byte
	pad[n%1024] = 1
	if n == 0 {
		return 0
	}
	return deepStack(n-1) + int(pad[n%1024])
}

// TestSyncWhileTheStackMoves: a goroutine whose stack grew, parked in
// Sync while collections shrink stacks, still sees its fsync complete.
// (The completion was once matched by the iocb's address, on the stack:
// after a move it was taken for another's, and Sync waited forever.)
func TestSyncWhileTheStackMoves(t *testing.T) {
	s := New() // not closed on a failure: Close would wait for the stuck Sync
	f := dirtyFile(t, 0)
	stop := make(chan struct{})
	defer close(stop)
	go repeatUntil(stop, runtime.GC)
	for i := range 5 {
		if _, err := f.Write(make([]byte, 8<<20)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			deepStack(200) // grow this goroutine's stack to about 256 KB, then return
			done <- s.Sync(f)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("sync %d never returned", i+1)
		}
	}
	if s.Async() != 5 {
		t.Fatalf("%d of 5 syncs asynchronous", s.Async())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
