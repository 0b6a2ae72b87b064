package cli

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

func TestMainExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"run succeeds", nil, 0},
		{"run fails", errors.New("no DATABASE_URL"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
			fixed := clock.Fixed(at)
			var gotClock clock.Clock
			code := Main("prog", fixed, func(ctx context.Context, now clock.Clock, _ []string, getenv func(string) string, _, _ io.Writer) error {
				if ctx.Err() != nil {
					t.Error("the context ended before run")
				}
				if getenv == nil {
					t.Error("no getenv")
				}
				gotClock = now
				return tt.err
			})
			if code != tt.want {
				t.Errorf("exit code %d, want %d", code, tt.want)
			}
			if gotClock == nil || !gotClock().Equal(at) {
				t.Error("run did not get the clock Main was given")
			}
		})
	}
}
