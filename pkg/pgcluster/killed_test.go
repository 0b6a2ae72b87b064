package pgcluster

import (
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartAfterTheServerWasKilledMidQuery: localstack now starts
// PostgreSQL again on its directory after the server was SIGKILLed. A
// backend busy in a query (CPU-bound work checks for the postmaster's
// death only when it next waits; a paused one stands for it here) outlives
// its postmaster, reparented to init in a session of its own, where
// proc.Stop's process-group kill does not reach. It keeps the old shared
// memory attached, so every new postmaster refuses to start ("pre-existing
// shared memory block ... is still in use"), localstack gives up after
// five tries, and the backend is left running after the stack stopped.
// Start must end what the dead server left behind.
func TestStartAfterTheServerWasKilledMidQuery(t *testing.T) {
	base, ctx := testDir(t)
	dir := filepath.Join(base, "data")
	// A log file, as localstack gives: with the in-memory tail, Done
	// waits for the orphans too (they hold the output pipe).
	log, err := os.Create(filepath.Join(base, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c, err := Start(ctx, Options{DataDir: dir, Fast: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("postgres", c.URL("postgres"))
	defer db.Close()
	var backend int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(backend, syscall.SIGKILL); syscall.Kill(backend, syscall.SIGCONT) })
	if err := syscall.Kill(backend, syscall.SIGSTOP); err != nil { // busy in a long query
		t.Fatal(err)
	}
	syscall.Kill(c.proc.Pid(), syscall.SIGKILL) // the postmaster
	<-c.Done()
	time.Sleep(time.Second) // localstack's first delay

	c2, err := Start(ctx, Options{DataDir: dir, Port: c.Port, Fast: true, Log: log})
	if err != nil {
		t.Fatalf("start after the server was killed: %v", err)
	}
	defer c2.Stop()
	if syscall.Kill(backend, 0) == nil {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(backend) + "/stat"); len(st) > 0 && !strings.Contains(string(st), ") Z ") {
			t.Errorf("the killed server's backend %d still runs beside the new server", backend)
		}
	}
}
