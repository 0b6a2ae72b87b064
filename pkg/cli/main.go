package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

// RunFunc is a program's body: it runs on the clock now with the command
// line's arguments (without the program's name), reads its configuration
// through getenv, and returns when ctx ends or its work is done.
type RunFunc func(ctx context.Context, now clock.Clock, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs run on the clock now until it returns or the process gets
// SIGINT or SIGTERM, and returns the process's exit code: 1, with the
// error on stderr after the program's name, when run fails. Each service's
// main calls it with the system clock; its test binary, re-executed as the
// service, with the clock the test pinned.
func Main(name string, now clock.Clock, run RunFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, now, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	return 0
}
