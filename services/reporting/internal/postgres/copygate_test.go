package postgres

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCopyGateTakesTurns(t *testing.T) {
	g := newCopyGate(time.Hour)
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan struct{})
	go func() {
		l, err := g.enter(context.Background())
		if err == nil {
			l()
		}
		close(second)
	}()
	select {
	case <-second:
		t.Fatal("a second turn began during the first")
	case <-time.After(50 * time.Millisecond):
	}
	leave()
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second turn did not begin after the first ended")
	}
}

func TestCopyGateGoesAheadAfterItsWait(t *testing.T) {
	// A turn held by a COPY that waits inside PostgreSQL for another
	// replica's transaction must not hold this process's others for ever.
	g := newCopyGate(20 * time.Millisecond)
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	done := make(chan error, 1)
	go func() {
		l, err := g.enter(context.Background())
		if err == nil {
			l() // ends nothing: it never had the turn
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("enter waited past its wait")
	}
	// The first turn still holds: a third waits again.
	select {
	case g.turn <- struct{}{}:
		t.Fatal("the gate was free while its turn was held")
	default:
	}
}

func TestCopyGateStopsWithItsContext(t *testing.T) {
	g := newCopyGate(time.Hour)
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter = %v, want the context's deadline", err)
	}
}
