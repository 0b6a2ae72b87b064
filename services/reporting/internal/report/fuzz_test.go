package report

import (
	"net/url"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// FuzzParseQuery: any query string gives a query or a 422, never a panic,
// and a valid query always has to after from.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "from=2026-11-01&to=2026-12-01&group_by=partner,day&tz=Europe/Berlin&currency=EUR&format=csv",
		"tz=America/St_Johns", "group_by=,,", "from=0000-01-01", "to=9999-12-31", "tz=Local", "tz=UTC&from=2026-03-29",
		"tz=Asia/Kolkata&from=1900-01-01&to=1990-01-01", "tz=Asia/Kathmandu", "tz=Pacific/Chatham&from=2026-04-05&to=2026-04-06"} {
		f.Add(s)
	}
	f.Add("from=0171-10-12&tz&00000000000000000&tz=0000000000000000000000000000000000") // found by fuzzing: tz given twice
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, "", now)
		if err != nil {
			// 422 for a value, 400 repeated_parameter for a parameter
			// given twice with different values (httpx.RepeatedParameter).
			if code, _ := errs.Public(err); errs.HTTPStatus(err) != 422 && !(errs.HTTPStatus(err) == 400 && code == "repeated_parameter") {
				t.Fatalf("status %d (%s) for %q: %v", errs.HTTPStatus(err), code, raw, err)
			}
			return
		}
		if !q.To.After(q.From) {
			t.Fatalf("%q: to %v not after from %v", raw, q.To, q.From)
		}
		// Every accepted day starts on a quarter-hour: the rollups cut it.
		for d := q.From; d.Before(q.To) && d.Before(q.From.AddDate(0, 0, 400)); d = d.AddDate(0, 0, 1) {
			if d.UTC().Truncate(15*time.Minute) != d.UTC() {
				t.Fatalf("%q: accepted a day starting at %v", raw, d)
			}
		}
	})
}

func FuzzParseRate(f *testing.F) {
	f.Add("2026-11-01", "EUR", "USD", "1.0832")
	f.Add("2026-11-01", "USD", "JPY", "150")
	f.Fuzz(func(t *testing.T, date, base, quote, rate string) {
		v, err := ParseRate(Rate{date, base, quote, rate})
		if err == nil && v.Sign() <= 0 {
			t.Fatalf("accepted a rate that is not positive: %q", rate)
		}
	})
}

func FuzzSafeCell(f *testing.F) {
	for _, s := range []string{"=1+1", "-7.35", "@x", "plain", "\t=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SafeCell(s)
		formula := func(c string) bool {
			return c != "" && (c[0] == '=' || c[0] == '+' || c[0] == '-' || c[0] == '@' || c[0] == '\t' || c[0] == '\r')
		}
		if formula(out) {
			t.Fatalf("SafeCell(%q) = %q starts a formula", s, out)
		}
		// Nothing else changes: a safe cell is as it was, a neutralised
		// one is the same text after one quote.
		if want := map[bool]string{false: s, true: "'" + s}[formula(s)]; out != want {
			t.Fatalf("SafeCell(%q) = %q, want %q", s, out, want)
		}
	})
}
