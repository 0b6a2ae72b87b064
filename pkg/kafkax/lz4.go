package kafkax

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
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
//   - After each full block it pauses (lz4Pause), and after a last,
//     shorter one it lets other goroutines run (runtime.Gosched).
//
// A goroutine is otherwise only preempted after 10 ms. On a server given
// one core, compressing a shipper batch of 1,000 clicks (about 500 KB)
// held the core for milliseconds at a time, and every redirect that
// arrived meanwhile waited: lz4 was 58 % of the shipper's samples, and
// runs of shipping samples 4-6 ms long came about seven times a second
// (perf at 499 Hz, make bench per core, issue 15). In 64 KB blocks the
// longest hold is about a tenth of that.
//
// Why a pause and not only a yield: with one processor, Go's scheduler
// looks for goroutines the network woke only when it has nothing else
// to run (or from sysmon, every 10 ms). A yield puts the compressing
// goroutine straight back on the run queue, so requests that arrived
// during a batch still waited for all of it; a goroutine asleep is off
// the queue, and the scheduler polls the network in the pause.
type yieldingLZ4 struct{}

// lz4Pause is the sleep after each full block: long enough that the
// timer has not fired by the time the scheduler looks for work (a 1 µs
// sleep had, and changed nothing). While other goroutines run it lasts
// about that; in a process with nothing else to do, Go waits for timers
// in epoll, in whole milliseconds, and it lasts about 1 ms. Only batches
// over 64 KB pause at all, and they come under load: a shipper batch of
// 500 KB ships at most about 8 ms later, after its clicks were answered.
const lz4Pause = 50 * time.Microsecond

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
		p.closing = false
		return &lz4Writer{p: p}
	}
	p := &pooledLZ4{z: lz4.NewWriter(w)}
	// Options a fresh writer always takes; were one refused, kafka-go's
	// own writer still compresses correctly.
	if err := p.z.Apply(lz4.BlockSizeOption(lz4BlockSize), lz4.OnBlockDoneOption(p.afterBlock)); err != nil {
		return compress.Lz4Codec.NewWriter(w)
	}
	return &lz4Writer{p: p}
}

// pooledLZ4 is an lz4.Writer with what its block handler needs to know.
type pooledLZ4 struct {
	z       *lz4.Writer
	closing bool // the block done now is the last, shorter one
}

// afterBlock runs after each block is compressed and written. (The lz4
// library reports the compressed size, which cannot tell a full block
// from the last: Write completes full blocks, Close the last.)
func (p *pooledLZ4) afterBlock(int) {
	if p.closing {
		runtime.Gosched()
		return
	}
	time.Sleep(lz4Pause)
}

// lz4Writer is one batch's use of a pooled writer, returned on Close.
type lz4Writer struct{ p *pooledLZ4 }

func (w *lz4Writer) Write(b []byte) (int, error) {
	if w.p == nil {
		return 0, errors.New("kafkax: lz4 writer used after Close")
	}
	return w.p.z.Write(b)
}

func (w *lz4Writer) Close() error {
	p := w.p
	if p == nil {
		return nil
	}
	w.p = nil
	p.closing = true
	err := p.z.Close()
	p.z.Reset(nil)
	lz4Writers.Put(p)
	return err
}
