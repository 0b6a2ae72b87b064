package kafkax

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/segmentio/kafka-go"
)

// TestSnappyBatchesRoundTripInXerialFrames: a batch comes back whole
// through kafka-go's reader, and its bytes are the xerial framing Kafka's
// Java client and librdkafka read (a 16-byte header, then blocks of at
// most 64 KB, each a 4-byte big-endian length and plain snappy data).
func TestSnappyBatchesRoundTripInXerialFrames(t *testing.T) {
	if got := kafka.Snappy.Codec(); got != (yieldingSnappy{}) {
		t.Fatalf("kafka-go's snappy codec is %T, want yieldingSnappy", got)
	}
	for _, size := range []int{1, 700, 64 << 10, 64<<10 + 1, 500 << 10, 1 << 20} {
		data := clickLike(size)
		for round := range 2 { // the second from a pooled writer
			var stream bytes.Buffer
			compressWith(t, kafka.Snappy, &stream, data)
			got, err := io.ReadAll(kafka.Snappy.Codec().NewReader(bytes.NewReader(stream.Bytes())))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes, round %d, kafka-go's reader: %d bytes back, equal %v, %v", size, round, len(got), bytes.Equal(got, data), err)
			}
			// The framing by hand, each block decoded by the reference
			// snappy decoder.
			b := stream.Bytes()
			if len(b) < 16 || !bytes.Equal(b[:16], xerialStreamHeader[:]) {
				t.Fatalf("%d bytes, round %d: stream starts % x, want the xerial header", size, round, b[:min(len(b), 16)])
			}
			var whole []byte
			blocks := 0
			for b = b[16:]; len(b) > 0; blocks++ {
				if len(b) < 4 {
					t.Fatalf("%d bytes, round %d: %d bytes left, no block length", size, round, len(b))
				}
				n := int(binary.BigEndian.Uint32(b))
				if n > len(b)-4 {
					t.Fatalf("%d bytes, round %d: block of %d bytes, %d left", size, round, n, len(b)-4)
				}
				block, err := snappy.Decode(nil, b[4:4+n])
				if err != nil || len(block) > snappyBlockSize {
					t.Fatalf("%d bytes, round %d, block %d: %d bytes, %v", size, round, blocks, len(block), err)
				}
				whole, b = append(whole, block...), b[4+n:]
			}
			if want := (size + snappyBlockSize - 1) / snappyBlockSize; blocks != want || !bytes.Equal(whole, data) {
				t.Fatalf("%d bytes, round %d: %d blocks (want %d), equal %v", size, round, blocks, want, bytes.Equal(whole, data))
			}
		}
	}
}

func TestSnappyWriterAfterClose(t *testing.T) {
	w := kafka.Snappy.Codec().NewWriter(io.Discard)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("a write after Close succeeded")
	}
}
