package proc

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd. deathSig is what the child receives when the parent
// dies. cmd.SysProcAttr may carry a Credential; Start adds the rest.
//
// Pdeathsig fires when the OS thread that forked the child exits, not the
// process; the child is therefore started and waited for from a goroutine
// locked to its thread, which lives exactly as long as the child.
func Start(cmd *exec.Cmd, deathSig syscall.Signal) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = deathSig
	cmd.SysProcAttr.Setpgid = true
	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			p.err = err
			close(p.done)
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit status; valid after Done.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the child; once it has been reaped it returns
// os.ErrProcessDone and signals nothing (os.Process holds a pidfd, so a
// reused pid is never signalled).
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends sig, waits up to grace for the exit, then kills the child's
// whole process group. It returns the exit status.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	// A paused child (kill -STOP) acts on sig only once continued.
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New("proc: killed after the grace period")
	}
	return p.err
}
