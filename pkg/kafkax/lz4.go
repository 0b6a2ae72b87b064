package kafkax

import (
	"io"
	"runtime"
	"sync"

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
//   - After each block it lets other goroutines run (runtime.Gosched).
//
// A goroutine is otherwise only preempted after 10 ms. On a server given
// one core, compressing a shipper batch of 1,000 clicks (about 500 KB)
// held the core for milliseconds at a time, and every redirect that
// arrived meanwhile waited: lz4 was 58 % of the shipper's samples, and
// runs of shipping samples 4-6 ms long came about seven times a second
// (perf at 499 Hz, make bench per core, issue 15). In 64 KB blocks the
// longest hold is about a tenth of that.
type yieldingLZ4 struct{}

var lz4Writers sync.Pool // *lz4.Writer, with yieldingLZ4's options

// Code implements compress.Codec.
func (yieldingLZ4) Code() int8 { return int8(compress.Lz4) }

// Name implements compress.Codec.
func (yieldingLZ4) Name() string { return "lz4" }

// NewReader implements compress.Codec: kafka-go's own reader.
func (yieldingLZ4) NewReader(r io.Reader) io.ReadCloser { return compress.Lz4Codec.NewReader(r) }

// NewWriter implements compress.Codec.
func (yieldingLZ4) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := lz4Writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Options a fresh writer always takes; were one refused, kafka-go's
		// own writer still compresses correctly.
		if err := z.Apply(lz4.BlockSizeOption(lz4BlockSize), lz4.OnBlockDoneOption(func(int) { runtime.Gosched() })); err != nil {
			return compress.Lz4Codec.NewWriter(w)
		}
	} else {
		z.Reset(w) // keeps the options
	}
	return &lz4Writer{Writer: z}
}

// lz4Writer returns its lz4.Writer to the pool on Close.
type lz4Writer struct{ *lz4.Writer }

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	lz4Writers.Put(z)
	return err
}
