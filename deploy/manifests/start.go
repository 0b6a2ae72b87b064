//go:build !race

package manifests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Run is how a started binary went.
type Run struct {
	// ExitedAlone: it ended before it was told to stop (a configuration
	// error exits at once).
	ExitedAlone bool
	Stderr      string
	Err         error // from Wait
	// Isolated: it ran in a network namespace of its own, so nothing it
	// dialled was reachable and its listen addresses were kept as given.
	// Otherwise every *_ADDR was rewritten to 127.0.0.1:0.
	Isolated bool
}

// Start runs bin with args, exactly env as its environment and dir as its
// working directory, lets it run for grace (or until it exits), then sends
// SIGTERM and waits up to 30 s for it to end.
//
// It runs in a new network namespace (root, or an unprivileged user
// namespace where the kernel allows one): no route anywhere, loopback down,
// so every dependency is unreachable and a fixed port never clashes with
// another process. Where no namespace can be made, listen addresses are
// moved to 127.0.0.1:0 and dependency names are left to fail to resolve.
func Start(ctx context.Context, bin string, args []string, env map[string]string, dir string, grace time.Duration) (Run, error) {
	run, err := start(ctx, bin, args, env, dir, grace, true)
	if err != nil && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC)) {
		moved := map[string]string{}
		for k, v := range env {
			if strings.HasSuffix(k, "_ADDR") && v != "" {
				v = "127.0.0.1:0"
			}
			moved[k] = v
		}
		return start(ctx, bin, args, moved, dir, grace, false)
	}
	return run, err
}

func start(ctx context.Context, bin string, args []string, env map[string]string, dir string, grace time.Duration, isolate bool) (Run, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cmd.Env = []string{}
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if isolate {
		attr.Cloneflags = syscall.CLONE_NEWNET
		if os.Geteuid() != 0 {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
		}
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return Run{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r := Run{Isolated: isolate}
	select {
	case r.Err = <-done:
		r.ExitedAlone = true
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case r.Err = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			r.Err = <-done
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		r.Err = <-done
	}
	r.Stderr = stderr.String()
	return r, nil
}
