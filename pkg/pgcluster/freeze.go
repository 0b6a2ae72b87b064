package pgcluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/linkcredit/linkcredit/pkg/proc"
)

// Freeze stops the server with SIGSTOP, the postmaster and every process
// it started: the kernel still completes TCP connections to it, and nothing
// answers on them, as with a hung disk or a network partition. It is for
// tests of what clients do then; Thaw resumes the server.
//
// Only this cluster's processes are signalled, never others by name (other
// clusters run on the same machine): the postmaster by its pid, the rest by
// their parent. The postmaster's process group would not do, since
// postgres puts each child in a session of its own.
func (c *Cluster) Freeze() error {
	pm := c.proc.Pid()
	// The postmaster first: stopped, it forks no child after the list below.
	// A stop takes effect when the process next leaves the kernel, so a
	// fork under way when it was sent still completes: wait until the
	// postmaster is stopped, then stop its children until a listing finds
	// none running (a backend forked in that window answered queries while
	// the server was meant to be frozen, and a test saw a 200 in 2 ms).
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pgcluster: freeze postmaster %d: %w", pm, err)
	}
	waitStopped(pm)
	for range 20 {
		kids, err := children(pm)
		if err != nil {
			return err
		}
		running := 0
		for _, k := range kids {
			if stopped(k) {
				continue
			}
			running++
			if err := syscall.Kill(k, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("pgcluster: signal %d: %w", k, err)
			}
			waitStopped(k)
		}
		if running == 0 {
			return nil
		}
	}
	return errors.New("pgcluster: freeze: the server's processes kept running")
}

// stopped reports whether pid is stopped (state T), or gone.
func stopped(pid int) bool {
	state, err := proc.State(pid)
	return err != nil || state == 'T' || state == 't' || state == 'Z'
}

// waitStopped waits up to a second for pid to be stopped.
func waitStopped(pid int) {
	for range 1000 {
		if stopped(pid) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Thaw resumes a server that Freeze stopped; on a running one it does
// nothing.
func (c *Cluster) Thaw() error {
	pm := c.proc.Pid()
	err := signalChildren(pm, syscall.SIGCONT)
	if kerr := syscall.Kill(pm, syscall.SIGCONT); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		err = errors.Join(err, fmt.Errorf("pgcluster: thaw postmaster %d: %w", pm, kerr))
	}
	return err
}

// signalChildren sends sig to every process whose parent is pid. A child
// that exits meanwhile is no error.
func signalChildren(pid int, sig syscall.Signal) error {
	kids, err := children(pid)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range kids {
		if err := syscall.Kill(k, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("pgcluster: signal %d: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// children lists the processes whose parent is pid, from /proc (Linux).
func children(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	if len(stats) == 0 {
		return nil, errors.New("pgcluster: no /proc to find the server's processes in")
	}
	var out []int
	for _, path := range stats {
		k, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		if ppid, err := proc.Parent(k); err == nil && ppid == pid { // an error: exited meanwhile
			out = append(out, k)
		}
	}
	return out, nil
}
