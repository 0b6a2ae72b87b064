package kafkax

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go"
)

// clickLike is n bytes that compress about as a batch of clicks does:
// repeated field names around random ids.
func clickLike(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(`{"click_id":"`)
		for range 26 {
			b.WriteByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[rng.IntN(32)])
		}
		b.WriteString(`","code":"course-`)
		b.WriteString(string(rune('a' + rng.IntN(26))))
		b.WriteString(`","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","bot":false}`)
	}
	return b.Bytes()[:n]
}

func compressWith(t *testing.T, c kafka.Compression, dst io.Writer, data []byte) {
	t.Helper()
	w := c.Codec().NewWriter(dst)
	// In pieces, as kafka-go encodes a batch record by record.
	for p := data; len(p) > 0; {
		n := min(len(p), 700)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// batchSizes are the batches the round-trip tests compress: empty,
// under a block, one block exactly, just over one, and many.
var batchSizes = []int{0, 1, 700, 64 << 10, 64<<10 + 1, 500 << 10, 1 << 20}

// roundTrips compresses a batch of each of batchSizes with c twice (the
// second time usually from a pooled writer), requires kafka-go's reader
// to give it back whole, and hands the stream to check; at names the
// batch for check's failures.
func roundTrips(t *testing.T, c kafka.Compression, check func(at string, data, stream []byte)) {
	t.Helper()
	for _, size := range batchSizes {
		data := clickLike(size)
		for round := range 2 {
			var stream bytes.Buffer
			compressWith(t, c, &stream, data)
			at := fmt.Sprintf("%d bytes, round %d", size, round)
			got, err := io.ReadAll(c.Codec().NewReader(bytes.NewReader(stream.Bytes())))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s, kafka-go's reader: %d bytes back, equal %v, %v", at, len(got), bytes.Equal(got, data), err)
			}
			check(at, data, stream.Bytes())
		}
	}
}

func TestLZ4BatchesRoundTripIn64KBBlocks(t *testing.T) {
	if got := kafka.Lz4.Codec(); got != (yieldingLZ4{}) {
		t.Fatalf("kafka-go's lz4 codec is %T, want yieldingLZ4", got)
	}
	roundTrips(t, kafka.Lz4, func(at string, data, frame []byte) {
		// LZ4 frame: magic (4 bytes), FLG, BD; BD's bits 4-6 are the
		// block size, 4 for 64 KB.
		if len(frame) < 6 || (frame[5]>>4)&7 != 4 {
			t.Fatalf("%s: frame descriptor % x, want 64 KB blocks", at, frame[:min(len(frame), 6)])
		}
		got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(frame)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s, lz4's own reader: %d bytes back, equal %v, %v", at, len(got), bytes.Equal(got, data), err)
		}
	})
}

// recordRan notes, at each compressed block written, whether another
// goroutine had run.
type recordRan struct {
	ran    *atomic.Bool
	writes []bool
}

func (r *recordRan) Write(p []byte) (int, error) {
	r.writes = append(r.writes, r.ran.Load())
	return len(p), nil
}

// yieldingCodecs are the codecs whose writers compress a batch block by
// block, waiting for the network poll between blocks.
var yieldingCodecs = map[string]kafka.Compression{"lz4": kafka.Lz4, "snappy": kafka.Snappy}

// timingAttempts is how many times a test of the scheduler's timing runs
// before it fails: a thread the machine holds up for more than the
// timer's 20 us reads the fired timer without parking (pollwait), so one
// wait now and then returns without a poll. Under the race detector that
// happens for stretches of several waits (about one run in a hundred
// failed three attempts in a row), so there these tests are skipped:
// make test runs them again without it, beside pollwait's own.
const timingAttempts = 3

// withinAttempts runs try until it reports no problem, at most
// timingAttempts times, and fails with the last problem.
func withinAttempts(t *testing.T, try func() string) {
	t.Helper()
	if raceDetector {
		t.Skip("the scheduler's timing: make test runs this without the race detector")
	}
	var problem string
	for range timingAttempts {
		if problem = try(); problem == "" {
			return
		}
	}
	t.Fatalf("in each of %d attempts: %s", timingAttempts, problem)
}

func TestCompressionLetsOtherGoroutinesRun(t *testing.T) {
	for name, c := range yieldingCodecs {
		t.Run(name, func(t *testing.T) {
			withinAttempts(t, func() string { return lettingOtherGoroutinesRun(t, c) })
		})
	}
}

func lettingOtherGoroutinesRun(t *testing.T, c kafka.Compression) (problem string) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	data := clickLike(1 << 20)
	var ran atomic.Bool
	dst := &recordRan{ran: &ran, writes: make([]bool, 0, 64)}
	runtime.GC() // none starts while compressing, letting other goroutines run
	done := make(chan struct{})
	// With one processor this goroutine runs only when the compressing
	// one lets it (or after 10 ms, when the runtime preempts it).
	go func() { ran.Store(true); close(done) }()
	compressWith(t, c, dst, data)
	<-done
	// Writes: the frame header, then each block's size and data (16
	// blocks). A quarter of the way in, the writer has yielded.
	if len(dst.writes) < 16 {
		t.Fatalf("%d writes for 1 MB: not compressed block by block", len(dst.writes))
	}
	if !dst.writes[len(dst.writes)/4] {
		return fmt.Sprintf("no other goroutine ran while 1 MB was compressed (ran at each write: %v)", dst.writes)
	}
	return ""
}

// TestCompressionLetsTheNetworkIn: with one processor, a goroutine
// that the network woke (bytes arrived on its connection) runs while a
// batch is being compressed, not after it. A yield alone does not do
// that: the scheduler polls the network only when nothing else is
// runnable, so the compressing goroutine went on until the batch ended
// or sysmon polled, 10 ms later.
func TestCompressionLetsTheNetworkIn(t *testing.T) {
	for name, c := range yieldingCodecs {
		t.Run(name, func(t *testing.T) {
			withinAttempts(t, func() string { return lettingTheNetworkIn(t, c) })
		})
	}
}

func lettingTheNetworkIn(t *testing.T, c kafka.Compression) (problem string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	data := clickLike(1 << 20)

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ran atomic.Bool
	dst := &recordRan{ran: &ran, writes: make([]bool, 0, 64)}
	read := make(chan error, 1)
	go func() { // parks in the network poller until the byte comes
		var b [1]byte
		_, err := server.Read(b[:])
		ran.Store(true)
		read <- err
	}()
	runtime.Gosched() // let it park
	runtime.GC()      // none starts while compressing
	// Asleep with nothing else to run, the scheduler waits in the network
	// poller: sysmon, which polls when nobody has for 10 ms, then leaves
	// the poller alone for the compression's few milliseconds, as under
	// a server's load.
	time.Sleep(time.Millisecond)
	if _, err := client.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	compressWith(t, c, dst, data)
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if len(dst.writes) < 16 {
		t.Fatalf("%d writes for 1 MB: not compressed block by block", len(dst.writes))
	}
	if !dst.writes[len(dst.writes)/2] {
		return fmt.Sprintf("the goroutine the network woke did not run within the first half of a 1 MB batch (ran at each write: %v)", dst.writes)
	}
	return ""
}
