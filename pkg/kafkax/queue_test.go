package kafkax

import "testing"

// A reader holds at most one batch ahead of the handler, never fewer
// than 100 messages nor more than maxQueued.
func TestQueueCapacity(t *testing.T) {
	for _, tt := range []struct{ batch, want int }{
		{1, 100}, {50, 100}, {100, 100}, {2000, 2000}, {4096, 4096}, {20000, maxQueued}, {100000, maxQueued},
	} {
		if got := queueCapacity(tt.batch); got != tt.want {
			t.Errorf("queueCapacity(%d) = %d, want %d", tt.batch, got, tt.want)
		}
	}
}
