// Command loadgen drives a running linkcredit stack on loopback (it refuses
// any other host) and checks the reports against what the stack
// acknowledged. Subcommands:
//
//	loadgen run       clicks over many links, conversions for a share of them, then an exact reconciliation
//	loadgen demo      a gentle, living demo for the stack `make run` started (make demo)
//	loadgen webhooks  signed webhooks at a rate or a concurrency, for benchmarks (was webhookload)
//
// `loadgen <subcommand> -h` lists each one's flags. The stack's admin token
// is read from -token, $ADMIN_TOKEN or $DATA_DIR/admin-token (.run by default).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/linkcredit/linkcredit/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the flags were printed
			return
		}
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

const usage = `usage: loadgen run|demo|webhooks [flags]   (loadgen <subcommand> -h for flags)`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	if cli.AsksHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	switch args[0] {
	case "run":
		return runLoad(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "webhooks":
		return runWebhooks(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown subcommand %q; %s", args[0], usage)
	}
}

// stackFlags are the addresses and token every subcommand that talks to
// the whole stack takes.
type stackFlags struct {
	redirect, conversions, reporting, token, dataDir string
}

func (s *stackFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	def := func(name, fallback string) string {
		if v := getenv(name); v != "" && !strings.HasPrefix(v, "fd:") {
			return v
		}
		return fallback
	}
	fs.StringVar(&s.redirect, "redirect", def("REDIRECT_ADDR", "127.0.0.1:8080"), "redirect address")
	fs.StringVar(&s.conversions, "conversions", def("CONVERSIONS_ADDR", "127.0.0.1:8081"), "conversions address")
	fs.StringVar(&s.reporting, "reporting", def("REPORTING_ADDR", "127.0.0.1:8082"), "reporting address")
	fs.StringVar(&s.token, "token", getenv("ADMIN_TOKEN"), "admin token (default $ADMIN_TOKEN, else DATA_DIR/admin-token)")
	fs.StringVar(&s.dataDir, "data-dir", def("DATA_DIR", ".run"), "the local stack's DATA_DIR, where its admin token is kept")
}

func (s *stackFlags) adminToken() (string, error) {
	if s.token != "" {
		return s.token, nil
	}
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
	if err != nil {
		return "", fmt.Errorf("no admin token: pass -token, set ADMIN_TOKEN, or start the stack with make run (%w)", err)
	}
	return strings.TrimSpace(string(b)), nil
}
