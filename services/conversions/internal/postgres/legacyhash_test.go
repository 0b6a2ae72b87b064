package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// A request reusing a stored key is the same request when its hash, or its
// LegacyHash (the form the stored one may have been hashed in before the
// form changed), is the stored hash; else it is a conflict.
func TestReusedKeyMatchesTheLegacyHash(t *testing.T) {
	s, _ := migrated(t)
	ctx := context.Background()
	build := func(n int64) (conversion.OutboxMessage, error) {
		return conversion.OutboxMessage{Topic: "conversions.v1", Key: []byte("p/ORDER-9"), Value: []byte("{}")}, nil
	}
	entry := func(hash, legacy string) conversion.InboxEntry {
		in := conversion.InboxEntry{Partner: "p", OrderID: "ORDER-9", IdempotencyKey: "pb_k", EventID: "ev-pb_k",
			Source: "postback", Method: "GET", BodyHash: []byte(hash), Body: []byte{}, ReceivedAt: at}
		if legacy != "" {
			in.LegacyHash = []byte(legacy)
		}
		return in
	}
	if r, err := s.Accept(ctx, entry("old-form", ""), build); err != nil || r.Duplicate {
		t.Fatalf("first: %+v %v", r, err)
	}
	for _, tt := range []struct {
		name, hash, legacy string
		conflict           bool
	}{
		{"the same hash", "old-form", "", false},
		{"the new form, its legacy hash the stored one", "new-form", "old-form", false},
		{"the new form, another legacy hash", "new-form", "other", true},
		{"the new form, no legacy hash", "new-form", "", true},
	} {
		r, err := s.Accept(ctx, entry(tt.hash, tt.legacy), build)
		switch {
		case tt.conflict && !errors.Is(err, conversion.ErrIdempotencyConflict):
			t.Errorf("%s: %+v %v, want a conflict", tt.name, r, err)
		case !tt.conflict && (err != nil || !r.Duplicate):
			t.Errorf("%s: %+v %v, want a duplicate", tt.name, r, err)
		}
	}
}
