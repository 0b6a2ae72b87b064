package testkit

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
)

// NowVar is the test-only hook that pins the clock. `make test` sets it
// for a second pass over the date-sensitive tests (those whose names
// contain "AtInstant"), once per instant in Instants. Only test binaries
// read it: Now here, and ChildClock in the TestMain of a service binary a
// test re-executes. A production binary has no code that looks at it.
const NowVar = "LINKCREDIT_TEST_NOW"

// Instant is a named moment a date-sensitive test must get right.
type Instant struct {
	Name string
	At   time.Time
}

// Instants are the moments where dates go wrong: month and year ends in
// UTC and in Europe/Berlin, and a time on each daylight-saving change day
// in Europe/Berlin and America/Chicago, just after the change. Offsets are
// explicit: 01:30 happens twice in Chicago on 2026-11-01. In-process tests
// loop over them; `make test` also runs the process tests at each one
// (NowVar, the Makefile's INSTANTS, which a test keeps equal to these).
func Instants() []Instant {
	named := [][2]string{
		{"last-second-of-november-utc", "2026-11-30T23:59:59Z"},
		{"first-second-of-december-utc", "2026-12-01T00:00:00Z"},
		{"new-years-eve-last-second-utc", "2026-12-31T23:59:59Z"},
		{"new-year-first-second-utc", "2027-01-01T00:00:00Z"},
		{"last-second-of-november-berlin", "2026-11-30T23:59:59+01:00"},
		// Written in Berlin's offset, its date there (1 December) is not
		// its UTC date: a test that takes a date from the instant as
		// written, rather than in UTC, fails here.
		{"first-half-hour-of-december-berlin", "2026-12-01T00:30:00+01:00"},
		{"leap-day-last-second-utc", "2028-02-29T23:59:59Z"}, // February's end, in a leap year
		{"berlin-autumn-dst-change-day", "2026-10-25T02:30:00+01:00"},
		{"berlin-spring-dst-change-day", "2027-03-28T03:30:00+02:00"},
		{"chicago-autumn-dst-change-day", "2026-11-01T01:30:00-06:00"},
		{"chicago-spring-dst-change-day", "2027-03-14T03:30:00-05:00"},
	}
	out := make([]Instant, len(named))
	for i, n := range named {
		at, err := time.Parse(time.RFC3339, n[1])
		if err != nil {
			panic(fmt.Sprintf("testkit: instant %s: %v", n[0], err))
		}
		out[i] = Instant{Name: n[0], At: at}
	}
	return out
}

// Now is the instant a date-sensitive test runs at: NowVar when set (RFC
// 3339), else the wall clock at the call. A test takes it once and derives
// every date from it, and starts its processes at it (ProcessConfig.Now),
// so the test and the service agree on "today" whatever the real date.
func Now(t testing.TB) time.Time {
	t.Helper()
	s := os.Getenv(NowVar)
	if s == "" {
		return time.Now()
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("testkit: %s=%q: %v", NowVar, s, err)
	}
	t.Logf("running at %s (%s)", at.Format(time.RFC3339), NowVar)
	return at
}

// ChildClock is the clock a service binary re-executed by a test runs on:
// frozen at NowVar when the test set it, else the system clock. Only a
// TestMain calls it.
func ChildClock() clock.Clock {
	s := os.Getenv(NowVar)
	if s == "" {
		return clock.System()
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkit: %s=%q: %v\n", NowVar, s, err)
		os.Exit(2)
	}
	return clock.Fixed(at)
}
