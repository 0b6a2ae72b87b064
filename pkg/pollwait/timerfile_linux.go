package pollwait

import (
	"errors"
	"fmt"
	"os"
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
	fd  int // f's descriptor, kept because f.Fd() would make it blocking
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
	return &timerFile{f: f, fd: fd}, nil
}

// wait arms the timer and reads it: the read finds nothing yet, so the
// goroutine parks in the poller until a poll sees the timer fired, or
// until MaxWait. It reports false when the timer could not be used.
func (t *timerFile) wait() bool {
	// The deadline first, so that nothing but the read comes between
	// arming the timer and parking: a thread held up there (preempted on
	// a loaded machine) until the timer fires does not park at all, and
	// that wait does not wait for a poll.
	if err := t.f.SetReadDeadline(time.Now().Add(MaxWait)); err != nil {
		return false
	}
	// Arming again resets the count a read would return, so a timer
	// left unread by a deadline does not end the next wait early.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(armFor)}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return false
	}
	_, err := t.f.Read(t.buf[:])
	return err == nil || errors.Is(err, os.ErrDeadlineExceeded)
}

func (t *timerFile) close() error { return t.f.Close() }
