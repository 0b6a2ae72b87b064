package events

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// FuzzDecode: any bytes either decode into a valid event or fail with an
// Invalid error (which consumers dead-letter); never a panic, never an
// internal error that would stall a partition forever.
func FuzzDecode(f *testing.F) {
	c, _ := Marshal(sampleClick())
	v, _ := Marshal(sampleConversion())
	f.Add(c)
	f.Add(v)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"click.recorded","schema_version":1,"id":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClick(b)
		if err != nil && !errors.Is(err, errs.Invalid) {
			t.Fatalf("DecodeClick: %v is not Invalid", err)
		}
		// Decoding in place takes and refuses exactly the same.
		in := append([]byte(nil), b...)
		var cp ClickRecorded
		errp := DecodeClickInPlace(in, &cp)
		if (err == nil) != (errp == nil) || err == nil && !reflect.DeepEqual(c, cp) {
			t.Fatalf("DecodeClickInPlace = %+v, %v; DecodeClick = %+v, %v", cp, errp, c, err)
		}
		if _, err := DecodeConversion(b); err != nil && !errors.Is(err, errs.Invalid) {
			t.Fatalf("DecodeConversion: %v is not Invalid", err)
		}
	})
}

// FuzzEdgeCuts: whatever a visitor sends, what the redirect keeps is valid
// UTF-8 within its cap, and a kept tag passes Validate's own check.
func FuzzEdgeCuts(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64)")
	f.Add("https://catalog.example/c?q=1#f")
	f.Add("\xff\xfe\xfd")
	f.Add("hero-1")
	f.Fuzz(func(t *testing.T, s string) {
		ua, long := CutUserAgent(s)
		if len(ua) > MaxUserAgentBytes || !utf8.ValidString(ua) || long != (len(s) > MaxUserAgentBytes) {
			t.Fatalf("CutUserAgent(%q) = %q, %v", s, ua, long)
		}
		if ref := CutReferer(s); len(ref) > MaxRefererBytes || !utf8.ValidString(ref) || strings.ContainsAny(ref, "?#;") {
			t.Fatalf("CutReferer(%q) = %q", s, ref)
		}
		if tag := Tag(s); tag != "" && (tag != s || !ValidTag(tag)) {
			t.Fatalf("Tag(%q) = %q", s, tag)
		}
	})
}
