//go:build !linux

package loadgen

import (
	"errors"
	"net"
)

// stampReader is Linux's; elsewhere answers carry no receive time.
type stampReader struct{ first int64 }

func newStampReader(net.Conn) *stampReader { return nil }

func (s *stampReader) reset() {}

func (s *stampReader) Read([]byte) (int, error) { return 0, errors.ErrUnsupported }
