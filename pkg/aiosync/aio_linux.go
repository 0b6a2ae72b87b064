//go:build linux && (amd64 || arm64)

package aiosync

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// iocb is the kernel's struct iocb (include/uapi/linux/aio_abi.h) on a
// little-endian machine: 64 bytes.
type iocb struct {
	data      uint64
	key       uint32
	rwFlags   int32
	opcode    uint16
	reqprio   int16
	fildes    uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

// ioEvent is the kernel's struct io_event.
type ioEvent struct {
	data, obj uint64
	res, res2 int64
}

const (
	iocbCmdFsync  = 2      // IOCB_CMD_FSYNC
	iocbFlagResfd = 1 << 0 // IOCB_FLAG_RESFD: signal the eventfd in resfd
)

// aio is a kernel AIO context and the eventfd its completions signal.
type aio struct {
	ctx  uintptr
	ev   *os.File // in the network poller
	evfd int      // ev's descriptor (ev.Fd() would make it blocking)
	buf  [8]byte
	// cb is the request, reused. A completion is matched by its data, a
	// number each request takes, not by the iocb's address: an iocb on
	// the goroutine's stack moved when the stack did (the collector
	// shrinks a parked goroutine's), and the wait then never ended.
	cb  *iocb
	seq uint64
}

func openAIO() (*aio, error) {
	var ctx uintptr
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, 4, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return nil, fmt.Errorf("aiosync: io_setup: %w", e)
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		return nil, fmt.Errorf("aiosync: eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(fd), "aiosync-eventfd")
	// Only a file in the poller parks its reader; another would have
	// Sync spin on the processor until the disk is done.
	if err := ev.SetReadDeadline(time.Time{}); err != nil {
		ev.Close()
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		return nil, fmt.Errorf("aiosync: eventfd not in the poller: %w", err)
	}
	return &aio{ctx: ctx, ev: ev, evfd: fd, cb: new(iocb)}, nil
}

// fsync submits an fsync of f and waits for it. submitted is false when
// the kernel refused the request (EINVAL: no asynchronous fsync for this
// file system), so the caller syncs the plain way.
func (a *aio) fsync(f *os.File) (submitted bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	a.seq++
	cb := a.cb
	*cb = iocb{data: a.seq, opcode: iocbCmdFsync, flags: iocbFlagResfd, resfd: uint32(a.evfd)}
	var submitErr error
	if cerr := rc.Control(func(fd uintptr) {
		cb.fildes = uint32(fd)
		list := [1]*iocb{cb}
		if _, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, a.ctx, 1, uintptr(unsafe.Pointer(&list[0]))); e != 0 {
			submitErr = e
		}
	}); cerr != nil || submitErr != nil {
		return false, nil
	}
	for {
		var ev ioEvent
		var zero unix.Timespec // do not block: the eventfd says when to look
		n, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, a.ctx, 0, 1, uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&zero)), 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return true, fmt.Errorf("aiosync: io_getevents: %w", e)
		case n == 1 && ev.data != a.seq:
			continue // an earlier sync's, whose wait had failed
		case n == 1:
			if ev.res < 0 {
				return true, &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.Errno(-ev.res)}
			}
			return true, nil
		}
		// Not done: park until the completion signals the eventfd (a
		// count left from an earlier sync only sends us round again).
		if _, err := a.ev.Read(a.buf[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
			return true, fmt.Errorf("aiosync: wait for fsync: %w", err)
		}
	}
}

func (a *aio) close() error {
	_, _, e := unix.Syscall(unix.SYS_IO_DESTROY, a.ctx, 0, 0)
	err := a.ev.Close()
	if e != 0 {
		return errors.Join(fmt.Errorf("aiosync: io_destroy: %w", e), err)
	}
	return err
}
