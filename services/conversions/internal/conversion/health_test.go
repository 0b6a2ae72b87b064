package conversion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestValidOutcome(t *testing.T) {
	for _, tc := range []struct {
		outcome string
		want    bool
	}{
		{OutcomeAccepted, true},
		{OutcomeDuplicate, true},
		{OutcomeUnclassified, true},
		{"invalid_signature", true},
		{"http_400", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"http_Bad Request", false}, // what a refusal by StrictQuery was counted as (issue 15's acceptance check)
		{"Invalid", false},
		{"a-b", false},
		{"é", false},
	} {
		if got := ValidOutcome(tc.outcome); got != tc.want {
			t.Errorf("ValidOutcome(%q) = %v, want %v", tc.outcome, got, tc.want)
		}
	}
}

// healthStore is a HealthStore in memory that refuses, as the database's
// checks do, counts whose outcome is not ValidOutcome, and fails the
// next AddHealth calls with fail when set.
type healthStore struct {
	counts []HealthCount
	fail   []error
}

func (s *healthStore) AddHealth(_ context.Context, counts []HealthCount, _ map[string]time.Time) error {
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		return err
	}
	for _, c := range counts {
		if !ValidOutcome(c.Outcome) {
			return errs.Wrap(errs.Unprocessable, "database_refused_data", "the database refused the data", fmt.Errorf("outcome %q", c.Outcome))
		}
	}
	s.counts = append(s.counts, counts...)
	return nil
}

func (s *healthStore) HealthCounts(context.Context, string, time.Time) ([]HealthCount, error) {
	return s.counts, nil
}
func (s *healthStore) LastAccepted(context.Context) (map[string]time.Time, error) { return nil, nil }
func (s *healthStore) PruneHealth(context.Context, time.Time) (int, error)        { return 0, nil }
func (s *healthStore) PartnerIDs(context.Context) ([]string, error)               { return []string{"coursera"}, nil }

func (s *healthStore) total(outcome string) (n int64) {
	for _, c := range s.counts {
		if c.Outcome == outcome {
			n += c.N
		}
	}
	return n
}

// TestHealthRecorderIsNeverHeldBack: an outcome the store would refuse is
// counted as unclassified, and counts the store refuses for what they
// hold are dropped, not retried: before, one refused row (a malformed
// postback's "http_Bad Request") was put back at every flush and held back
// every partner's counts until the process stopped. Counts refused
// because the store is down are kept for the next flush.
func TestHealthRecorderIsNeverHeldBack(t *testing.T) {
	ctx := context.Background()
	now := clock.Fixed(time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC))
	store := &healthStore{}
	rec := &HealthRecorder{Store: store, Now: now}

	rec.Record("coursera", OutcomeAccepted, false)
	rec.Record("coursera", "http_Bad Request", false)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.total(OutcomeAccepted) != 1 || store.total(OutcomeUnclassified) != 1 {
		t.Fatalf("stored %+v, want one accepted and one unclassified", store.counts)
	}

	store.fail = []error{errs.Wrap(errs.Unprocessable, "database_refused_data", "the database refused the data", errors.New("violates a check"))}
	rec.Record("coursera", "invalid_signature", false)
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("a refused flush reported no error")
	}
	rec.Record("coursera", OutcomeAccepted, false)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.total("invalid_signature") != 0 || store.total(OutcomeAccepted) != 2 {
		t.Fatalf("stored %+v: want the refused count dropped and the next one stored", store.counts)
	}

	store.fail = []error{errs.Wrap(errs.Unavailable, "database_unavailable", "the database is unavailable; retry later", errors.New("connection refused"))}
	rec.Record("coursera", "missing_field", false)
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("a failed flush reported no error")
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.total("missing_field") != 1 {
		t.Fatalf("stored %+v: want the count kept through the outage", store.counts)
	}
}
