// Command bareinsert is the yardstick for the webhook benchmark: a bare
// net/http server that stores each POST body with one single-row INSERT
// (synchronous_commit on, a pool as large as conversions'), answers 202,
// and does nothing else: no signature, no JSON, no outbox. ADDR sets where
// it listens (default 127.0.0.1:8091), DATABASE_URL the PostgreSQL.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/linkcredit/linkcredit/pkg/database"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "bareinsert:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8091"
	}
	db, err := database.Open(getenv("DATABASE_URL"), database.Pool{MaxOpen: 20})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS bench_bare;
		CREATE TABLE IF NOT EXISTS bench_bare.inbox (id text PRIMARY KEY, body bytea NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	var sync string
	if err := db.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&sync); err != nil {
		return err
	}
	fmt.Printf("bareinsert: listening on %s, synchronous_commit %s\n", addr, sync)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		if _, err := db.ExecContext(r.Context(), `INSERT INTO bench_bare.inbox (id, body) VALUES ($1, $2)`, r.Header.Get("webhook-id"), body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
