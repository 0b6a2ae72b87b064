package rfc3339

import (
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

// FuzzParse: Parse takes only what time.Parse takes, as the same instant,
// and never an offset of a day or more.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2026-11-11T10:00:00Z", "2026-11-11T10:00:00+24:00", "2026-11-11T10:00:00.5-09:30", "2026-11-11T10:00:00+23:60"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !got.Equal(want) {
			t.Fatalf("Parse(%q) = %v, time.Parse says %v, %v", s, got, want, err)
		}
		if _, off := got.Zone(); off >= 24*3600 || off <= -24*3600 {
			t.Fatalf("Parse(%q) took an offset of %d s", s, off)
		}
	})
}
