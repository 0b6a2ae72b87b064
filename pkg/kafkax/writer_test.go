package kafkax

import (
	"errors"
	"fmt"
	"net"
	"testing"

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
