package kafkax

import (
	"fmt"
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"

	"github.com/linkcredit/linkcredit/pkg/pollwait"
)

// kafka-go compresses a batch with the codec its codec table holds for
// the batch's compression code: a writer cannot be given a codec of its
// own. The table's lz4 entry is replaced, once for the process, by
// yieldingLZ4; reading is unchanged.
func init() {
	compress.Codecs[compress.Lz4] = yieldingLZ4{}
}

// lz4BlockSize is the block of a batch compressed at a time: Apache
// Kafka's own producer frames lz4 batches in 64 KB blocks.
const lz4BlockSize = lz4.Block64Kb

// yieldingLZ4 is kafka-go's lz4 codec with two changes to its writer.
//
//   - It compresses in 64 KB blocks as a batch is encoded, where kafka-go's
//     (the lz4 library's default of 4 MB blocks) compressed a whole batch
//     at once when it was closed.
//   - After each block of a batch over one block it waits for the
//     scheduler's next network poll (pollwait).
//
// A goroutine is otherwise only preempted after 10 ms. On a server given
// one core, compressing a shipper batch of 1,000 clicks (about 500 KB)
// held the core for milliseconds at a time, and every redirect that
// arrived meanwhile waited: lz4 was 58 % of the shipper's samples, and
// runs of shipping samples 4-6 ms long came about seven times a second
// (perf at 499 Hz, make bench per core, issue 15). In 64 KB blocks the
// longest hold is about a tenth of that.
//
// Why a wait for the poll and not a yield or a short sleep: with one
// processor, Go's scheduler looks for goroutines the network woke only
// when it has nothing else to run (or from sysmon, every 10 ms). A
// yield puts the compressing goroutine straight back on the run queue;
// a 50 µs sleep (tried until 2026-12-07) had it back before the queue
// emptied, so under load a batch's blocks still ran one after another
// with the requests already read, before any new one (a runtime trace
// of the pinned redirect: 2-3 ms of shipping in most gaps between polls
// over 4 ms). Waiting for the poll, each block runs beside the requests
// that came in before it.
type yieldingLZ4 struct{}

var lz4Writers sync.Pool // *pooledLZ4, with yieldingLZ4's options

// Code implements compress.Codec.
func (yieldingLZ4) Code() int8 { return int8(compress.Lz4) }

// Name implements compress.Codec.
func (yieldingLZ4) Name() string { return "lz4" }

// NewReader implements compress.Codec: kafka-go's own reader.
func (yieldingLZ4) NewReader(r io.Reader) io.ReadCloser { return compress.Lz4Codec.NewReader(r) }

// NewWriter implements compress.Codec.
func (yieldingLZ4) NewWriter(w io.Writer) io.WriteCloser {
	if p, _ := lz4Writers.Get().(*pooledLZ4); p != nil {
		p.z.Reset(w) // keeps the options
		p.full, p.closing = false, false
		return &batchWriter{w: p, codec: "lz4"}
	}
	p := &pooledLZ4{z: lz4.NewWriter(w), poll: pollwait.New()}
	// Options a fresh writer always takes; were one refused, kafka-go's
	// own writer still compresses correctly.
	if err := p.z.Apply(lz4.BlockSizeOption(lz4BlockSize), lz4.OnBlockDoneOption(p.afterBlock)); err != nil {
		return compress.Lz4Codec.NewWriter(w)
	}
	return &batchWriter{w: p, codec: "lz4"}
}

// pooledLZ4 is an lz4.Writer and what its block handler needs. The pool
// may drop one: its timer file is then closed when it is collected.
type pooledLZ4 struct {
	z       *lz4.Writer
	poll    *pollwait.Waiter
	full    bool // this batch has had a full block
	closing bool // the block done now is the last, shorter one
}

// afterBlock runs after each block is compressed and written. (The lz4
// library reports the compressed size, which cannot tell a full block
// from the last: Write completes full blocks, Close the last.) A batch
// under one block, every produce request of a webhook or a ledger
// entry, goes on without a wait.
func (p *pooledLZ4) afterBlock(int) {
	if p.closing && !p.full {
		return
	}
	p.full = true
	p.poll.Wait()
}

func (p *pooledLZ4) Write(b []byte) (int, error) { return p.z.Write(b) }

// Close compresses the last, shorter block and returns p to the pool.
func (p *pooledLZ4) Close() error {
	p.closing = true
	err := p.z.Close()
	p.z.Reset(nil)
	lz4Writers.Put(p)
	return err
}

// batchWriter is one batch's use of a pooled codec writer (pooledLZ4,
// snappyWriter), which its Close returns to the pool: a handle kept past
// Close cannot reach the writer another batch took since.
type batchWriter struct {
	w     io.WriteCloser // nil after Close
	codec string
}

func (b *batchWriter) Write(p []byte) (int, error) {
	if b.w == nil {
		return 0, fmt.Errorf("kafkax: %s writer used after Close", b.codec)
	}
	return b.w.Write(p)
}

func (b *batchWriter) Close() error {
	w := b.w
	if w == nil {
		return nil
	}
	b.w = nil
	return w.Close()
}
