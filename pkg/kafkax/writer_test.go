package kafkax

import (
	"errors"
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestErrorTextCountsPerMessageErrors(t *testing.T) {
	timeout := errors.New("write tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout")
	each := make(kafka.WriteErrors, 500)
	for i := range each {
		if i%5 != 0 {
			each[i] = timeout
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
