package kafkatransport

import (
	"encoding/binary"
	"errors"
)

// A frame is a Kafka message as stored in the click log:
// [key length u16][key][traceparent length u16][traceparent][value].

var errBadFrame = errors.New("kafkatransport: malformed frame")

func appendFrame(dst, key, traceparent, value []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(traceparent)))
	dst = append(dst, traceparent...)
	return append(dst, value...)
}

// parseFrame splits a frame; the parts are slices of b.
func parseFrame(b []byte) (key, traceparent, value []byte, err error) {
	if len(b) < 2 {
		return nil, nil, nil, errBadFrame
	}
	n := int(binary.LittleEndian.Uint16(b))
	b = b[2:]
	if len(b) < n+2 {
		return nil, nil, nil, errBadFrame
	}
	key, b = b[:n], b[n:]
	n = int(binary.LittleEndian.Uint16(b))
	b = b[2:]
	if len(b) < n {
		return nil, nil, nil, errBadFrame
	}
	return key, b[:n:n], b[n:], nil
}
