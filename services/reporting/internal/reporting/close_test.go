package reporting

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// closeStore records what ClosePeriod asks of the store, in order.
type closeStore struct {
	Store
	calls    *[]string
	closedAt *time.Time // the close in force, if any
}

func (s closeStore) ClosePeriod(_ context.Context, month, now time.Time, _ string) (report.Period, error) {
	*s.calls = append(*s.calls, "close")
	if s.closedAt.IsZero() {
		*s.closedAt = now
	}
	at := *s.closedAt
	return report.Period{Month: month.Format("2006-01"), Status: "closed", ClosedAt: &at}, nil
}

func (s closeStore) FinanceZone() *time.Location { return time.UTC }

func (s closeStore) ClosedPeriods(_ context.Context, from, _ time.Time) ([]string, error) {
	if s.closedAt.IsZero() {
		return []string{}, nil
	}
	return []string{from.Format("2006-01")}, nil
}

func (s closeStore) RefreshClosedFigures(_ context.Context, _, closedAt time.Time) error {
	*s.calls = append(*s.calls, "refresh "+closedAt.Format(time.RFC3339Nano))
	return nil
}

type fakeIngest struct {
	calls *[]string
	errs  []error // one per call, then nil
}

func (f *fakeIngest) Wait(context.Context) error {
	*f.calls = append(*f.calls, "wait")
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

// Closing a month waits for ingest before the close (and refuses, 503
// ingest_behind, closing nothing, while it lags), and after it, then
// records the month's figures again: an event recorded before the close
// but stored after it changed the closed month (a check of times). A
// month closed before is answered as it is, its figures untouched, and a
// month not ended is refused, both at once, without waiting for Kafka (a
// re-check: a re-close waited 10 s for a lagging ingest, then 503).
func TestClosePeriodWaitsForIngest(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.UTC)
	at := now.Truncate(time.Microsecond).Format(time.RFC3339Nano)
	for _, tt := range []struct {
		name      string
		month     string
		closed    bool
		waitErrs  []error
		wantCalls string
		wantCode  string
	}{
		{"caught up", "2026-11", false, nil, "wait close wait refresh " + at, ""},
		{"behind", "2026-11", false, []error{errors.New("12 messages left")}, "wait", "ingest_behind"},
		{"behind after the close", "2026-11", false, []error{nil, errors.New("1 message left")}, "wait close wait refresh " + at, ""},
		{"closed before", "2026-11", true, []error{errors.New("Kafka is down")}, "close", ""},
		{"not ended", "2026-12", false, []error{errors.New("Kafka is down")}, "", "month_not_ended"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			var closedAt time.Time
			if tt.closed {
				closedAt = now.Add(-time.Hour)
			}
			svc := New(closeStore{calls: &calls, closedAt: &closedAt}, func() time.Time { return now }).
				WaitForIngest(&fakeIngest{calls: &calls, errs: tt.waitErrs})
			_, err := svc.ClosePeriod(context.Background(), tt.month)
			if got := strings.Join(calls, " "); got != tt.wantCalls {
				t.Errorf("calls %q, want %q", got, tt.wantCalls)
			}
			switch {
			case tt.wantCode == "" && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantCode != "" && publicCode(err) != tt.wantCode:
				t.Errorf("err = %v (%d), want %s", err, errs.HTTPStatus(err), tt.wantCode)
			}
		})
	}
}

func publicCode(err error) string {
	code, _ := errs.Public(err)
	return code
}
