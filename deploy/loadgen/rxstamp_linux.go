package loadgen

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// stampReader reads a TCP connection with recvmsg and keeps the kernel's
// receive time of the data (SO_TIMESTAMPNS): when the answer reached the
// socket, whenever loadgen itself got to run and read it. On loopback the
// sender's write delivers the segment, so the time is taken on the
// server's CPU as it writes.
type stampReader struct {
	rc  syscall.RawConn
	oob []byte
	// first is the receive time (Unix ns) of the first data read since
	// the last reset; 0 when none came with a time.
	first int64
}

// newStampReader turns on receive timestamps for conn; nil when conn is
// not TCP or the kernel refuses.
func newStampReader(conn net.Conn) *stampReader {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return &stampReader{rc: rc, oob: make([]byte, syscall.CmsgSpace(16))}
}

func (s *stampReader) reset() { s.first = 0 }

func (s *stampReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n, oobn int
	var err error
	// The read deadline set on the connection holds here too.
	if rerr := s.rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, err = syscall.Recvmsg(int(fd), p, s.oob, 0)
			if !errors.Is(err, syscall.EINTR) {
				return !errors.Is(err, syscall.EAGAIN)
			}
		}
	}); rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	if s.first == 0 {
		s.first = rxStamp(s.oob[:oobn])
	}
	return n, nil
}

// rxStamp finds SCM_TIMESTAMPNS in control messages: Unix ns, or 0.
func rxStamp(oob []byte) int64 {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			return (*syscall.Timespec)(unsafe.Pointer(&m.Data[0])).Nano()
		}
	}
	return 0
}
