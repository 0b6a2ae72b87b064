package rfc3339

import (
	"regexp"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"2026-11-11T10:00:00Z", true},
		{"2026-11-11T10:00:00.123456789Z", true},
		{"2026-11-11T10:00:00+23:59", true},
		{"2026-11-11T10:00:00-23:59", true},
		{"2026-11-11T10:00:00+05:45", true},
		{"2026-11-11T10:00:00.5-09:30", true},
		{"2026-11-11T10:00:00-00:00", true},
		{"2026-11-11T10:00:00+24:00", false},
		{"2026-11-11T10:00:00-24:00", false},
		{"2026-11-11T10:00:00+23:60", false},
		{"2026-11-11T10:00:00+01:60", false},
		{"2026-11-11T10:00:00.000+24:00", false},
		{"2026-11-11T10:00:00", false},
		{"2026-11-11", false},
		{"", false},
	} {
		_, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) error %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

// rfc3339Lenient is RFC 3339's date-time (section 5.6) as this package
// takes it: the grammar's fields, with the time package's leniencies the
// package comment names (a one-digit hour, a comma before the fraction),
// and an offset of at most 23:59 either way. The time package also
// differs the other way, stricter than the RFC: no lower-case 't' or 'z',
// no space for 'T', and no leap second (a second of 60); none of those is
// accepted here.
var rfc3339Lenient = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{1,2}:[0-9]{2}:[0-9]{2}([.,][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

// rfc3339Strict is what Format writes: the RFC's grammar exactly, with the
// fraction's trailing zeros dropped.
var rfc3339Strict = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]*[1-9])?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

// FuzzParse holds Parse to time.Parse(time.RFC3339Nano) and to RFC 3339's
// offsets:
//   - it accepts s exactly when time.Parse does and s ends in Z or an
//     offset of -23:59 to +23:59 (time.Parse also takes +24:00 and a
//     minute of 60, which RFC 3339 has not);
//   - what it accepts is the same instant and the same offset as
//     time.Parse says, and has the lenient RFC 3339 form above;
//   - written back with time.RFC3339Nano it is strict RFC 3339, and it
//     parses again to the same instant and offset (a round trip), and the
//     written form is a fixed point.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2026-11-11T10:00:00Z", "2026-11-11T10:00:00+24:00", "2026-11-11T10:00:00.5-09:30", "2026-11-11T10:00:00+23:60",
		"2026-11-11T1:00:00,5+05:45", "2026-11-11t10:00:00z", "2026-12-31T23:59:60Z", "2026-02-29T10:00:00Z", "0000-01-01T00:00:00-23:59",
		"2026-11-11T10:00:00.1234567891Z", "2026-11-11T10:00:00-00:00", "2026-11-11T10:00:00+0100"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		inRange := werr == nil && rfc3339Offset(s)
		if (err == nil) != inRange {
			t.Fatalf("Parse(%q) error %v; time.Parse error %v, offset in RFC 3339's range %v", s, err, werr, rfc3339Offset(s))
		}
		if err != nil {
			return
		}
		_, off := got.Zone()
		_, wantOff := want.Zone()
		if !got.Equal(want) || off != wantOff {
			t.Fatalf("Parse(%q) = %v, time.Parse says %v", s, got, want)
		}
		if !rfc3339Lenient.MatchString(s) {
			t.Fatalf("Parse(%q) accepted what is not RFC 3339 (even with the time package's leniencies)", s)
		}
		if off >= 24*3600 || off <= -24*3600 || off%60 != 0 {
			t.Fatalf("Parse(%q) took an offset of %d s", s, off)
		}
		out := got.Format(time.RFC3339Nano)
		if !rfc3339Strict.MatchString(out) {
			t.Fatalf("Parse(%q) formats as %q, not RFC 3339", s, out)
		}
		again, err := Parse(out)
		if _, againOff := again.Zone(); err != nil || !again.Equal(got) || againOff != off {
			t.Fatalf("Parse(%q) = %v, written %q, read back %v, %v", s, got, out, again, err)
		}
		if out2 := again.Format(time.RFC3339Nano); out2 != out {
			t.Fatalf("%q writes %q, then %q", s, out, out2)
		}
	})
}

// rfc3339Offset reports whether s ends in an offset RFC 3339 allows, by
// its grammar: "Z", or a sign, hh 00-23, ':' and mm 00-59.
func rfc3339Offset(s string) bool {
	return rfc3339OffsetRE.MatchString(s)
}

var rfc3339OffsetRE = regexp.MustCompile(`(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)
