package kafkax

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestErrorTextCountsPerMessageErrors(t *testing.T) {
	timeout := errors.New("i/o timeout")
	each := make(kafka.WriteErrors, 500)
	for i := range each {
		if i%5 != 0 {
			// One cause through connections of their own addresses.
			each[i] = &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{Port: 38000 + i%3}, Err: timeout}
		}
	}
	each[0] = kafka.LeaderNotAvailable
	got := ErrorText(fmt.Errorf("publish: %w", each))
	if want := "401 of 500 messages failed: " + kafka.LeaderNotAvailable.Error() + " (1); " + timeout.Error() + " (400)"; got != want {
		t.Fatalf("ErrorText = %q, want %q", got, want)
	}
	if got := ErrorText(timeout); got != timeout.Error() {
		t.Fatalf("a plain error: %q", got)
	}
}

func TestOnePartitionAPublish(t *testing.T) {
	twelve := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	var b OnePartitionAPublish
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		partitions []int
		publishes  int
		step       time.Duration
	}{
		{"a publish a millisecond", twelve, 1200, time.Millisecond},
		{"a publish every 40 ms", twelve, 1200, 40 * time.Millisecond},
		{"publishes a nanosecond apart", twelve, 1200, time.Nanosecond},
		{"one partition", []int{0}, 10, time.Second},
		{"partitions not numbered from 0", []int{3, 7}, 200, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[int]int{}
			for i := range tt.publishes {
				at := start.Add(time.Duration(i) * tt.step)
				p := b.Balance(kafka.Message{Key: []byte("a"), Time: at}, tt.partitions...)
				// Every message of one publish (one instant) on one partition.
				for _, key := range []string{"b", "c", "d"} {
					if q := b.Balance(kafka.Message{Key: []byte(key), Time: at}, tt.partitions...); q != p {
						t.Fatalf("publish %d: messages on partitions %d and %d", i, p, q)
					}
				}
				seen[p]++
			}
			for _, p := range tt.partitions {
				// Spread: each partition gets at least half its share.
				if share := tt.publishes / len(tt.partitions); seen[p] < share/2 {
					t.Fatalf("partition %d got %d of %d publishes (%v)", p, seen[p], tt.publishes, seen)
				}
			}
			if len(seen) != len(tt.partitions) {
				t.Fatalf("partitions used %v, want only %v", seen, tt.partitions)
			}
		})
	}
}
