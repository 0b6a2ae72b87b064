package testkit

import (
	"testing"
	"time"
)

// WaitFor polls cond until it returns nil, and fails the test with cond's
// last error when within passes first. Tests wait on the condition they
// need, never on a fixed sleep: a slow machine (or -race) only makes the
// wait longer, never the test red.
func WaitFor(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
