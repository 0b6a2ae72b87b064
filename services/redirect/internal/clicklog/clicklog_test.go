package clicklog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func open(t *testing.T, opts Options) *Log {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readAll(t *testing.T, l *Log, from Position) ([]string, Position) {
	t.Helper()
	var out []string
	pos := from
	for {
		recs, next, err := l.Read(pos, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out, pos
		}
		for _, r := range recs {
			out = append(out, string(r.Payload))
		}
		pos = next
	}
}

func TestAppendReadCommitReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Options{Dir: dir, SegmentBytes: 200})
	now := time.Now()
	for i := range 50 {
		if err := l.Append([]byte(fmt.Sprintf("click-%02d", i)), now); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(now); st.Segments < 5 || st.Unacked != st.Bytes {
		t.Fatalf("stats %+v: expected several segments, all unacked", st)
	}
	got, end := readAll(t, l, l.Acked())
	if len(got) != 50 || got[0] != "click-00" || got[49] != "click-49" {
		t.Fatalf("read %d records: %v", len(got), got)
	}
	// Acknowledge the first 20 only, then "crash" (no Close).
	_, mid := readN(t, l, 20)
	if err := l.Commit(mid); err != nil {
		t.Fatal(err)
	}
	l2 := open(t, Options{Dir: dir, SegmentBytes: 200})
	defer l2.Close()
	rest, _ := readAll(t, l2, l2.Acked())
	if len(rest) != 30 || rest[0] != "click-20" {
		t.Fatalf("after reopen read %d records starting %q, want 30 from click-20", len(rest), rest[0])
	}
	if err := l2.Commit(end); err != nil {
		t.Fatal(err)
	}
	if st := l2.Stats(now); st.Unacked != 0 || st.OldestAge != 0 || st.Segments != 1 {
		t.Fatalf("after committing everything: %+v", st)
	}
	l.Close()
}

func readN(t *testing.T, l *Log, n int) ([]string, Position) {
	var out []string
	pos := l.Acked()
	for len(out) < n {
		recs, next, err := l.Read(pos, n-len(out))
		if err != nil || len(recs) == 0 {
			t.Fatalf("readN: %v", err)
		}
		for _, r := range recs {
			out = append(out, string(r.Payload))
		}
		pos = next
	}
	return out, pos
}

func TestTornTailIsCut(t *testing.T) {
	tails := map[string][]byte{
		"half header":  {9, 0, 0},
		"half payload": {20, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'},
		"bad crc":      {1, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 'x'},
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, Options{Dir: dir})
			l.Append([]byte("one"), time.Now())
			l.Append([]byte("two"), time.Now())
			l.Close()
			seg := filepath.Join(dir, segName(1))
			f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			f.Write(tail)
			f.Close()

			l = open(t, Options{Dir: dir})
			defer l.Close()
			if err := l.Append([]byte("three"), time.Now()); err != nil {
				t.Fatal(err)
			}
			got, _ := readAll(t, l, l.Acked())
			if len(got) != 3 || got[2] != "three" {
				t.Fatalf("after a torn tail read %q", got)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	l := open(t, Options{Dir: t.TempDir(), SegmentBytes: 100, MaxBytes: 300})
	defer l.Close()
	var err error
	n := 0
	for ; n < 100; n++ {
		if err = l.Append([]byte("0123456789"), time.Now()); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v after %d appends, want ErrFull", err, n)
	}
	if st := l.Stats(time.Now()); st.Bytes > 300 {
		t.Fatalf("log grew past its budget: %d", st.Bytes)
	}
	_, end := readAll(t, l, l.Acked())
	if err := l.Commit(end); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]byte("again"), time.Now()); err != nil {
		t.Fatalf("after draining, Append = %v", err)
	}
}

func TestAgeOfOldestUnacked(t *testing.T) {
	l := open(t, Options{Dir: t.TempDir()})
	defer l.Close()
	t0 := time.Now()
	l.Append([]byte("a"), t0)
	l.Append([]byte("b"), t0.Add(time.Second))
	if age := l.Stats(t0.Add(5 * time.Second)).OldestAge; age != 5*time.Second {
		t.Fatalf("age %v, want 5s", age)
	}
	_, pos := readN(t, l, 1)
	l.Commit(pos)
	if age := l.Stats(t0.Add(5 * time.Second)).OldestAge; age != 4*time.Second {
		t.Fatalf("age after acking one %v, want 4s", age)
	}
}

func TestConcurrentAppendersAndReader(t *testing.T) {
	l := open(t, Options{Dir: t.TempDir(), SegmentBytes: 4096})
	defer l.Close()
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := l.Append([]byte(fmt.Sprintf("%d:%d", w, i)), time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := map[string]bool{}
	last := map[int]int{0: -1, 1: -1, 2: -1, 3: -1}
	pos := l.Acked()
	deadline := time.After(20 * time.Second)
	for len(seen) < writers*each {
		recs, next, err := l.Read(pos, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var w, i int
			fmt.Sscanf(string(r.Payload), "%d:%d", &w, &i)
			if seen[string(r.Payload)] || i != last[w]+1 {
				t.Fatalf("record %q out of order or twice", r.Payload)
			}
			seen[string(r.Payload)], last[w] = true, i
		}
		pos = next
		if len(recs) > 0 {
			l.Commit(pos)
			continue
		}
		select {
		case <-l.Appended():
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("read %d of %d", len(seen), writers*each)
		}
	}
	wg.Wait()
}

func BenchmarkAppend(b *testing.B) {
	l, _ := Open(Options{Dir: b.TempDir(), MaxBytes: 1 << 40})
	defer l.Close()
	payload := make([]byte, 600)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(payload, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendManyWriters is the busy server: many connections append
// at once and group commit turns their records into few system calls.
func BenchmarkAppendManyWriters(b *testing.B) {
	l, _ := Open(Options{Dir: b.TempDir(), MaxBytes: 1 << 40})
	defer l.Close()
	payload := make([]byte, 600)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(payload, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCorruptActiveSegmentIsSkipped: damage in the segment being written
// (only a failing disk or a bug does that) must not stall shipping: the
// reader skips to a fresh segment and new clicks ship.
func TestCorruptActiveSegmentIsSkipped(t *testing.T) {
	l := open(t, Options{Dir: t.TempDir()})
	defer l.Close()
	l.Append([]byte("good"), time.Now())
	l.Append([]byte("damaged"), time.Now())
	l.mu.Lock()
	seg := filepath.Join(l.opts.Dir, segName(l.segs[len(l.segs)-1].seq))
	l.mu.Unlock()
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(headerLen + 4 + headerLen + 2) // a byte inside the second record
	var b [1]byte
	f.ReadAt(b[:], off)
	b[0] ^= 0xFF
	f.WriteAt(b[:], off)
	f.Close()
	recs, next, err := l.Read(l.Acked(), 10)
	if !errors.Is(err, ErrCorrupt) || len(recs) != 1 {
		t.Fatalf("read %d records, err %v", len(recs), err)
	}
	skipped := l.SkipSegment(next)
	if skipped == next {
		t.Fatal("SkipSegment did not move past the active segment")
	}
	l.Append([]byte("after"), time.Now())
	got, _ := readAll(t, l, skipped)
	if len(got) != 1 || got[0] != "after" {
		t.Fatalf("after skipping read %q", got)
	}
}

// TestBusyLogStaysIntact appends from many goroutines into full-size
// segments while a reader follows; every record must read back whole.
func TestBusyLogStaysIntact(t *testing.T) {
	l := open(t, Options{Dir: t.TempDir(), SegmentBytes: 8 << 20, MaxBytes: 1 << 30})
	defer l.Close()
	const writers, each = 8, 5000
	payload := make([]byte, 700)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := append([]byte(fmt.Sprintf("%d:%d:", w, i)), payload...)
				if err := l.Append(p, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	n := 0
	pos := l.Acked()
	deadline := time.Now().Add(30 * time.Second)
	for n < writers*each {
		recs, next, err := l.Read(pos, 500)
		if err != nil {
			t.Fatalf("after %d records: %v", n, err)
		}
		n += len(recs)
		pos = next
		if len(recs) > 0 {
			l.Commit(pos)
		} else if time.Now().After(deadline) {
			t.Fatalf("read %d of %d", n, writers*each)
		}
	}
	wg.Wait()
}

// TestAppendIsInTheFileWhenItReturns: the promise a 302 rests on. When
// Append returns, its record is in the segment file for any other reader
// (a process started after this one is killed reads the same page cache),
// however many appends were written together with it.
func TestAppendIsInTheFileWhenItReturns(t *testing.T) {
	// Small segments: the test reads the active one after every append,
	// and rolls happen along the way.
	l := open(t, Options{Dir: t.TempDir(), Sync: SyncNone, SegmentBytes: 16 << 10})
	defer l.Close()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				p := []byte(fmt.Sprintf("writer %d click %d;", w, i))
				if err := l.Append(p, time.Now()); err != nil {
					t.Error(err)
					return
				}
				// The record is in the active segment or, if a roll
				// came after it, in an earlier one.
				l.mu.Lock()
				var paths []string
				for _, s := range l.segs {
					paths = append(paths, filepath.Join(l.opts.Dir, segName(s.seq)))
				}
				l.mu.Unlock()
				found := false
				for i := len(paths) - 1; i >= 0 && !found; i-- {
					data, err := os.ReadFile(paths[i])
					found = err == nil && bytes.Contains(data, p)
				}
				if !found {
					t.Errorf("%q returned but is not in the file", p)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAppendSurvivesSIGKILL: the promise a 302 rests on, with a real kill.
// A child process appends from several goroutines, reports each record
// whose Append returned, and is killed (SIGKILL, no Close) while the
// others are still appending. Every record reported is in the log when it
// is opened again, once and in its writer's order.
func TestAppendSurvivesSIGKILL(t *testing.T) {
	if dir := os.Getenv("CLICKLOG_KILL_DIR"); dir != "" {
		appendUntilKilled(dir)
		return
	}
	{
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestAppendSurvivesSIGKILL$")
		cmd.Env = append(os.Environ(), "CLICKLOG_KILL_DIR="+dir)
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child: %v, want killed by SIGKILL; output %q", err, out.String())
		}
		returned := strings.Fields(out.String())
		if len(returned) < killAfter {
			t.Fatalf("child reported %d appends, want at least %d", len(returned), killAfter)
		}
		l := open(t, Options{Dir: dir, SegmentBytes: killSegment})
		defer l.Close()
		got, _ := readAll(t, l, l.Acked())
		in := map[string]bool{}
		next := map[string]int{} // each writer's next index
		for _, r := range got {
			var w string
			var i int
			fmt.Sscanf(strings.Replace(r, ":", " ", 1), "%s %d", &w, &i)
			if in[r] || i != next[w] {
				t.Fatalf("record %q twice or out of order (%s's next was %d)", r, w, next[w])
			}
			in[r], next[w] = true, i+1
		}
		for _, r := range returned {
			if !in[r] {
				t.Fatalf("%q was appended (Append returned) but is not in the log after SIGKILL; the log has %d records", r, len(got))
			}
		}
	}
}

const (
	killAfter   = 2000     // appends returned before the child kills itself
	killSegment = 64 << 10 // small segments: rolls happen along the way
)

// appendUntilKilled is TestAppendSurvivesSIGKILL's child.
func appendUntilKilled(dir string) {
	l, err := Open(Options{Dir: dir, SegmentBytes: killSegment, Sync: SyncNone})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	n := 0
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				p := fmt.Sprintf("w%d:%d", w, i)
				if err := l.Append([]byte(p), time.Now()); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				os.Stdout.WriteString(p + "\n") // unbuffered: in the pipe before the kill
				if n++; n == killAfter {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCheckpointWritesTheLastCommit: a commit within CheckpointEvery of
// the last checkpoint stays off disk until Checkpoint (or Close), and a
// crash before it ships its clicks again. An acceptance check saw a burst
// Kafka had taken a minute before shipped again after a SIGKILL.
func TestCheckpointWritesTheLastCommit(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Options{Dir: dir})
	now := time.Now()
	for i := range 10 {
		if err := l.Append([]byte(fmt.Sprintf("click-%02d", i)), now); err != nil {
			t.Fatal(err)
		}
	}
	_, first := readN(t, l, 4)
	if err := l.Commit(first); err != nil { // written: the first checkpoint
		t.Fatal(err)
	}
	_, end := readAll(t, l, first)
	if err := l.Commit(end); err != nil { // within CheckpointEvery: not written
		t.Fatal(err)
	}
	if got, _ := readCheckpoint(dir); got != first {
		t.Fatalf("checkpoint on disk %+v before Checkpoint, want the first commit %+v (the test assumes the second is not due)", got, first)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readCheckpoint(dir); got != end {
		t.Fatalf("checkpoint on disk %+v after Checkpoint, want %+v", got, end)
	}
	// "Crash" (no Close): nothing is shipped again.
	l2 := open(t, Options{Dir: dir})
	defer l2.Close()
	if rest, _ := readAll(t, l2, l2.Acked()); len(rest) != 0 {
		t.Fatalf("after a crash %d clicks would ship again: %v", len(rest), rest)
	}
	if err := l.Checkpoint(); err != nil { // nothing behind: no write
		t.Fatal(err)
	}
	l.Close()
}

// TestAppendsGoOnWhileASegmentIsDeleted: deleting a shipped segment (7 ms
// of the kernel's time for 64 MiB) must not hold appends up.
func TestAppendsGoOnWhileASegmentIsDeleted(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Options{Dir: dir, SegmentBytes: 4 << 10})
	defer l.Close()
	deleting, release := make(chan string, 8), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // before Close, which waits for the held deletion: a failure must not hang
	l.remove = func(name string) error {
		deleting <- name
		<-release
		return os.Remove(name)
	}
	now := time.Now()
	payload := bytes.Repeat([]byte("c"), 1000)
	for range 10 { // three segments or more
		if err := l.Append(payload, now); err != nil {
			t.Fatal(err)
		}
	}
	_, end := readAll(t, l, l.Acked())
	saved := make(chan error, 1)
	go func() { saved <- l.Commit(end) }() // a new segment: the checkpoint is due, the old segments go
	name := <-deleting
	// The deletion is held: appends, reads and stats go on.
	if err := l.Append(payload, now); err != nil {
		t.Fatal(err)
	}
	if recs, _, err := l.Read(end, 10); err != nil || len(recs) != 1 {
		t.Fatalf("read during a deletion: %d records, %v", len(recs), err)
	}
	if st := l.Stats(now); st.Segments < 1 {
		t.Fatalf("stats during a deletion: %+v", st)
	}
	releaseOnce()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("%s still there after the commit: %v", name, err)
	}
}

func TestRemoveSegmentDeletesItInSlices(t *testing.T) {
	l, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, size := range []int64{0, 1, removeSlice, removeSlice + 1, 3*removeSlice + removeSlice/2} {
		name := filepath.Join(t.TempDir(), "shipped.seg")
		if err := os.WriteFile(name, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := l.removeSegment(name); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%d bytes: still there (%v)", size, err)
		}
	}
	if err := l.removeSegment(filepath.Join(t.TempDir(), "gone.seg")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing segment: %v", err)
	}
}
