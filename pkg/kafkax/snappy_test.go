package kafkax

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/segmentio/kafka-go"
)

// TestSnappyBatchesRoundTripInXerialFrames: a batch comes back whole
// through kafka-go's reader, and its bytes are the xerial framing Kafka's
// Java client and librdkafka read (a 16-byte header, then blocks of at
// most 64 KB, each a 4-byte big-endian length and plain snappy data,
// which the strict snappy decoder takes: none of s2's extensions).
func TestSnappyBatchesRoundTripInXerialFrames(t *testing.T) {
	if got := kafka.Snappy.Codec(); got != (yieldingSnappy{}) {
		t.Fatalf("kafka-go's snappy codec is %T, want yieldingSnappy", got)
	}
	roundTrips(t, kafka.Snappy, func(at string, data, b []byte) {
		// The framing by hand, each block decoded by the strict snappy
		// decoder.
		if len(data) == 0 {
			if len(b) != 0 {
				t.Fatalf("an empty batch wrote % x, want nothing (as kafka-go's own writer)", b)
			}
			return
		}
		if len(b) < 16 || string(b[:16]) != "\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01" {
			t.Fatalf("%s: stream starts % x, want the xerial header", at, b[:min(len(b), 16)])
		}
		var whole []byte
		blocks := 0
		for b = b[16:]; len(b) > 0; blocks++ {
			if len(b) < 4 {
				t.Fatalf("%s: %d bytes left, no block length", at, len(b))
			}
			n := int(binary.BigEndian.Uint32(b))
			if n > len(b)-4 {
				t.Fatalf("%s: block of %d bytes, %d left", at, n, len(b)-4)
			}
			block, err := snappy.DecodeStrict(nil, b[4:4+n])
			if err != nil || len(block) > snappyBlockSize {
				t.Fatalf("%s, block %d: %d bytes, %v", at, blocks, len(block), err)
			}
			whole, b = append(whole, block...), b[4+n:]
		}
		if want := (len(data) + snappyBlockSize - 1) / snappyBlockSize; blocks != want || !bytes.Equal(whole, data) {
			t.Fatalf("%s: %d blocks (want %d), equal %v", at, blocks, want, bytes.Equal(whole, data))
		}
	})
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

// TestSnappyIncompressibleBatch: random bytes, which snappy cannot
// shrink, come back whole, each block grown by no more than snappy's
// bound.
func TestSnappyIncompressibleBatch(t *testing.T) {
	data := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{3, 4}).Read(data)
	var stream bytes.Buffer
	compressWith(t, kafka.Snappy, &stream, data)
	if max := 16 + 4*4 + 4*s2.MaxEncodedLen(snappyBlockSize); stream.Len() > max {
		t.Fatalf("%d bytes for %d random ones, want at most %d", stream.Len(), len(data), max)
	}
	got, err := io.ReadAll(kafka.Snappy.Codec().NewReader(bytes.NewReader(stream.Bytes())))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes back, equal %v, %v", len(got), bytes.Equal(got, data), err)
	}
}

// failAfter accepts n writes, then fails every one.
type failAfter struct{ n int }

var errWrite = errors.New("write failed")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errWrite
	}
	f.n--
	return len(p), nil
}

// TestSnappyWriteErrorsStick: once the stream below fails, every later
// Write and the Close return that error, and nothing more is written.
func TestSnappyWriteErrorsStick(t *testing.T) {
	for _, ok := range []int{0, 1, 2, 3} { // the header, a length, a block, ...
		dst := &failAfter{n: ok}
		w := kafka.Snappy.Codec().NewWriter(dst)
		data := clickLike(3 * snappyBlockSize)
		_, err := w.Write(data)
		if !errors.Is(err, errWrite) {
			t.Fatalf("after %d good writes: Write returned %v, want the write's error", ok, err)
		}
		if _, err := w.Write([]byte("more")); !errors.Is(err, errWrite) {
			t.Fatalf("after %d good writes: a later Write returned %v", ok, err)
		}
		if err := w.Close(); !errors.Is(err, errWrite) {
			t.Fatalf("after %d good writes: Close returned %v", ok, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("a second Close returned %v", err)
		}
	}
}
