// Package clock is where linkcredit asks what time it is.
//
// Business time (the day a click counts for, the running month, the day a
// salt belongs to, a webhook's freshness, a session's expiry) always comes
// from a Clock handed down from main, never from time.Now inside domain
// code, so that tests can run a whole service at any instant: the last
// second of a month, New Year's Eve, a daylight-saving change. Elapsed-time
// measurements (timeouts, tickers, latency metrics) keep using the
// monotonic system clock; they do not depend on the date.
package clock

import "time"

// Clock returns the current instant.
type Clock func() time.Time

// System is the wall clock; main hands it to a service in production.
func System() Clock { return time.Now }

// Fixed always reads t: a frozen clock for tests that pin an instant.
func Fixed(t time.Time) Clock { return func() time.Time { return t } }

// OrSystem returns c, or the system clock when c is nil, so a zero Config
// still tells the time.
func OrSystem(c Clock) Clock {
	if c == nil {
		return time.Now
	}
	return c
}
