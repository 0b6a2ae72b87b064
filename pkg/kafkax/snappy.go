package kafkax

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/segmentio/kafka-go/compress"

	"github.com/linkcredit/linkcredit/pkg/pollwait"
)

// The table's snappy entry is replaced, once for the process, by
// yieldingSnappy; reading is unchanged (kafka-go's reader, which takes
// framed and unframed batches alike).
func init() {
	compress.Codecs[compress.Snappy] = yieldingSnappy{}
}

// snappyBlockSize is the most input one snappy frame of a batch holds.
// The xerial framing Kafka's clients read (a 16-byte header, then each
// block as a 4-byte big-endian length and its snappy data) takes any
// size; 64 KB is what a snappy block addresses without long offsets.
const snappyBlockSize = 64 << 10

// yieldingSnappy is kafka-go's snappy codec as yieldingLZ4 is its lz4
// one: it compresses a batch in blocks as the batch is encoded, waiting
// for the scheduler's next network poll after each full block, so a
// server given one core goes on serving requests while a large batch is
// compressed (yieldingLZ4's comment says why a wait for the poll). It
// also encodes with s2's fastest snappy-compatible encoder, where
// kafka-go's codec defaults to its better, slower one: the bytes are
// plain snappy either way, which every Kafka client reads.
type yieldingSnappy struct{}

var snappyWriters sync.Pool // *snappyWriter

// Code implements compress.Codec.
func (yieldingSnappy) Code() int8 { return int8(compress.Snappy) }

// Name implements compress.Codec.
func (yieldingSnappy) Name() string { return "snappy" }

// NewReader implements compress.Codec: kafka-go's own reader.
func (yieldingSnappy) NewReader(r io.Reader) io.ReadCloser {
	return compress.SnappyCodec.NewReader(r)
}

// NewWriter implements compress.Codec.
func (yieldingSnappy) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := snappyWriters.Get().(*snappyWriter)
	if z == nil {
		z = &snappyWriter{in: make([]byte, 0, snappyBlockSize), poll: pollwait.New()}
	}
	z.w, z.started, z.err = w, false, nil
	return &batchWriter{w: z, codec: "snappy"}
}

// snappyWriter is an xerial-framed snappy stream.
type snappyWriter struct {
	w       io.Writer
	in      []byte // the block being filled
	out     []byte // the last block encoded
	poll    *pollwait.Waiter
	started bool  // the stream's header is written
	err     error // the first write's error, returned from then on
}

var xerialStreamHeader = [16]byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

func (z *snappyWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 && z.err == nil {
		k := copy(z.in[len(z.in):cap(z.in)], b)
		z.in, b, n = z.in[:len(z.in)+k], b[k:], n+k
		if len(z.in) == cap(z.in) {
			if z.block(); z.err == nil {
				z.poll.Wait()
			}
		}
	}
	return n, z.err
}

// block encodes and writes the block filled so far.
func (z *snappyWriter) block() {
	if z.err != nil || len(z.in) == 0 {
		return
	}
	if !z.started {
		if _, z.err = z.w.Write(xerialStreamHeader[:]); z.err != nil {
			return
		}
		z.started = true
	}
	z.out = s2.EncodeSnappy(z.out, z.in) // into out's array when it is large enough
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], uint32(len(z.out)))
	if _, z.err = z.w.Write(size[:]); z.err == nil {
		_, z.err = z.w.Write(z.out)
	}
	z.in = z.in[:0]
}

// Close writes the last, shorter block and returns z to the pool.
func (z *snappyWriter) Close() error {
	z.block()
	err := z.err
	z.w, z.in = nil, z.in[:0]
	snappyWriters.Put(z)
	return err
}
