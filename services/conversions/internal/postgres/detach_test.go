package postgres

import (
	"context"
	"errors"
	"testing"
	"time"
)

// detach answers when its context ends even if f never does (lib/pq on a
// frozen server), and f's goroutine ends once f returns.
func TestDetachReturnsWhenTheContextEnds(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		blocks  bool // f waits for release, ignoring its context
		fErr    error
		wantErr error
	}{
		{"f answers", false, nil, nil},
		{"f fails", false, boom, boom},
		{"f ignores the context", true, nil, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release, exited := make(chan struct{}), make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan error, 1)
			go func() {
				v, err := detach(ctx, func() (int, error) {
					defer close(exited)
					if tc.blocks {
						<-release
					}
					return 7, tc.fErr
				})
				if err == nil && v != 7 {
					err = errors.New("lost f's value")
				}
				got <- err
			}()
			if tc.blocks {
				cancel()
			}
			select {
			case err := <-got:
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("detach = %v, want %v", err, tc.wantErr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("detach did not return")
			}
			close(release)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				t.Fatal("f's goroutine did not end once f could return")
			}
		})
	}
}
