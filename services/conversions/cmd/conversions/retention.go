package main

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Inbox retention (INBOX_RETENTION). The floor is a week: a partner
// retries a failed delivery for days (Standard Webhooks senders such as
// Svix for about a day and a half), and a redelivery whose request is gone
// is no longer recognised as one (its event keeps its id, so consumers
// still dedupe it, but a changed body no longer gets 409). The ceiling is
// ten years, past any audit duty.
const (
	defaultRetention = 90 * 24 * time.Hour
	minRetention     = 7 * 24 * time.Hour
	maxRetention     = 3650 * 24 * time.Hour
)

// parseRetention reads INBOX_RETENTION: whole days ("90d"), a Go duration
// ("2160h"), or "0" to keep every request.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > int(maxRetention/(24*time.Hour)) || days != strconv.Itoa(n) {
			return 0, errors.New(`not a number of days such as "90d"`)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New(`not a duration such as "90d" or "2160h" (or "0" to keep everything)`)
		}
	}
	if d < minRetention || d > maxRetention {
		return 0, errors.New(`must be between 7d and 3650d, or "0" to keep everything`)
	}
	return d, nil
}
