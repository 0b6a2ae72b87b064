package pollwait

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// armFor is how far ahead the timer is set: long enough that it has not
// fired by the time Wait reads the file and parks (a few hundred
// nanoseconds later, unless preempted), short enough that an idle
// process hardly waits.
const armFor = 20_000 // ns

// timerFile is a non-blocking timerfd, which os.File registers with the
// runtime's network poller.
type timerFile struct {
	f   *os.File
	raw syscall.RawConn // f's, to read it and learn whether the read waited
	fd  int             // f's descriptor, kept because f.Fd() would make it blocking
	buf [8]byte
}

func openTimerFile() (*timerFile, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("pollwait: timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pollwait-timerfd")
	if f == nil {
		unix.Close(fd)
		return nil, errors.New("pollwait: timerfd is not a file")
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pollwait: timerfd: %w", err)
	}
	return &timerFile{f: f, raw: raw, fd: fd}, nil
}

// wait arms the timer and reads it: the read finds nothing yet, so the
// goroutine parks in the poller until a poll sees the timer fired, or
// until MaxWait. ok is false when the timer could not be used; parked
// says whether the read waited in the poller at all: a thread held up
// between arming and reading (preempted on a loaded machine) until the
// timer fired reads it at once, and that wait waited for no poll.
func (t *timerFile) wait() (ok, parked bool) {
	// The deadline first, so that nothing but the read comes between
	// arming the timer and parking.
	if err := t.f.SetReadDeadline(time.Now().Add(MaxWait)); err != nil {
		return false, false
	}
	// Arming again resets the count a read would return, so a timer
	// left unread by a deadline does not end the next wait early.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(armFor)}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return false, false
	}
	// The read os.File would make, through RawConn to see whether it
	// parked: the callback returning false waits for the poller.
	var rerr error
	err := t.raw.Read(func(fd uintptr) bool {
		for {
			_, rerr = unix.Read(int(fd), t.buf[:])
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			parked = true
			return false
		}
		return true
	})
	if err != nil {
		return errors.Is(err, os.ErrDeadlineExceeded), parked
	}
	return rerr == nil, parked
}

func (t *timerFile) close() error { return t.f.Close() }
