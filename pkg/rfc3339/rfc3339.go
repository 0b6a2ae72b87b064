// Package rfc3339 reads RFC 3339 times without the offsets the time
// package's layouts also take and no RFC 3339 time has (+24:00, a minute
// of 60), which move the instant by a day or an hour. Otherwise it is as
// lenient as the time package (a one-digit hour, a comma before the
// fraction).
package rfc3339

import (
	"fmt"
	"strings"
	"time"
)

// validOffset reports whether s, a time a Z07:00 layout of the time
// package accepted, ends in an offset RFC 3339 allows: Z, or ±hh:mm with
// hh at most 23 and mm at most 59.
func validOffset(s string) bool {
	if strings.HasSuffix(s, "Z") {
		return true
	}
	if len(s) < 6 {
		return false
	}
	off := s[len(s)-6:]
	if (off[0] != '+' && off[0] != '-') || off[3] != ':' || !digits(off[1:3]) || !digits(off[4:]) {
		return false
	}
	hh, mm := (off[1]-'0')*10+off[2]-'0', (off[4]-'0')*10+off[5]-'0'
	return hh <= 23 && mm <= 59
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Parse reads an RFC 3339 time, with or without fractional seconds, and
// refuses an offset RFC 3339 does not allow.
func Parse(s string) (time.Time, error) { return ParseLayout(time.RFC3339Nano, s) }

// ParseLayout is time.Parse(layout, s), refusing what a layout ending in
// an offset (Z07:00) took that RFC 3339 does not allow.
func ParseLayout(layout, s string) (time.Time, error) {
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, err
	}
	if strings.HasSuffix(layout, "Z07:00") && !validOffset(s) {
		return time.Time{}, fmt.Errorf("parsing time %q: the offset is out of range (-23:59 to +23:59)", s)
	}
	return t, nil
}
