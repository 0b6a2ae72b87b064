package kafkatransport

import (
	"bytes"
	"testing"
)

func FuzzFrame(f *testing.F) {
	f.Add([]byte("key"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", []byte(`{"id":"x"}`))
	f.Add([]byte{}, "", []byte{})
	f.Fuzz(func(t *testing.T, key []byte, tp string, value []byte) {
		if len(key) > 65535 || len(tp) > 65535 {
			return
		}
		k, gotTP, v, err := parseFrame(appendFrame(nil, key, []byte(tp), value))
		if err != nil || !bytes.Equal(k, key) || string(gotTP) != tp || !bytes.Equal(v, value) {
			t.Fatalf("round trip failed: %v", err)
		}
		// Any prefix of a frame either parses or fails cleanly.
		frame := appendFrame(nil, key, []byte(tp), value)
		for i := range frame {
			parseFrame(frame[:i])
		}
	})
}

func TestNewTraceparentIsW3C(t *testing.T) {
	r := NewRecorder(nil, nil)
	b := r.bufs.Get().(*buffers)
	var first, second [traceparentLen]byte
	b.newTraceparent(&first)
	b.newTraceparent(&second)
	if tp := string(first[:]); tp[:3] != "00-" || tp[35] != '-' || tp[52:] != "-00" || first == second {
		t.Fatalf("traceparent %q", tp)
	}
}
