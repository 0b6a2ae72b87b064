// Command redirect serves linkcredit's redirect service: the click redirect: course links and the clicks on them.
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/platform"
	"github.com/linkcredit/linkcredit/services/redirect/internal/postgres"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "redirect:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, _, stderr io.Writer) (err error) {
	env := config.New(getenv)
	cfg := platform.ReadConfig(env, "redirect", "REDIRECT_ADDR", "127.0.0.1:8080")
	cfg.Version = version
	if err := env.Err(); err != nil {
		return err
	}

	p, err := platform.Start(ctx, cfg, postgres.Schema, postgres.Migrations(), stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close(context.WithoutCancel(ctx))) }()

	return p.Serve(ctx, p.Handler(p.Router), httpx.ServerConfig{})
}
