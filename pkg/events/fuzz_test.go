package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// FuzzDecode holds the event decoders to encoding/json, which segmentio's
// decoder stands in for (a drop-in, events.go says):
//   - any bytes either decode into a valid event or fail with an Invalid
//     error (which consumers dead-letter), never an internal one that
//     would stall a partition;
//   - DecodeClick, DecodeClickInPlace and DecodeConversion take exactly
//     what json.Unmarshal into the same type followed by Validate takes,
//     and give the same event (times as the same instant and offset);
//   - an event taken, written by Marshal, decodes to itself.
func FuzzDecode(f *testing.F) {
	c, _ := Marshal(sampleClick())
	v, _ := Marshal(sampleConversion())
	f.Add(c)
	f.Add(v)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"click.recorded","schema_version":1,"id":"x"}`))
	f.Add([]byte(`{"TYPE":"click.recorded","schema_version":1.0,"id":"x","occurred_at":"2026-11-20T10:00:00+05:45","code":"a","partner":"p","Code":"b"}`))
	f.Add([]byte(`{"type":"click.recorded","schema_version":1,"id":"\ud800","occurred_at":"2026-11-20T10:00:00Z","code":"a","partner":"p","bot":null} `))
	f.Add([]byte(`{"type":"conversion.received","schema_version":1,"id":"x","partner":"p","order_id":"o","status":"pending","sale_amount":"1.00","commission":"0","currency":"USD","occurred_at":"2026-11-20T10:00:00.123456789-00:00","accepted_seq":1e2}`))
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
		var refClick ClickRecorded
		refErr := json.Unmarshal(b, &refClick)
		if refErr == nil {
			refErr = refClick.Validate()
		}
		sameEvent(t, "click", b, c, err, refClick, refErr)
		if err == nil {
			again, merr := Marshal(c)
			back, err := DecodeClick(again)
			if merr != nil || err != nil || !reflect.DeepEqual(normalTimes(back), normalTimes(c)) {
				t.Fatalf("click %+v written as %s reads %+v, %v", c, again, back, err)
			}
		}

		v, err := DecodeConversion(b)
		if err != nil && !errors.Is(err, errs.Invalid) {
			t.Fatalf("DecodeConversion: %v is not Invalid", err)
		}
		var refConv ConversionReceived
		refErr = json.Unmarshal(b, &refConv)
		if refErr == nil {
			refErr = refConv.Validate()
		}
		sameEvent(t, "conversion", b, v, err, refConv, refErr)
		if err == nil {
			again, merr := Marshal(v)
			back, err := DecodeConversion(again)
			if merr != nil || err != nil || !reflect.DeepEqual(normalTimes(back), normalTimes(v)) {
				t.Fatalf("conversion %+v written as %s reads %+v, %v", v, again, back, err)
			}
		}
	})
}

// sameEvent fails t unless got and want, decoded from b, were both taken
// as the same event or both refused.
func sameEvent[E any](t *testing.T, what string, b []byte, got E, err error, want E, wantErr error) {
	t.Helper()
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%s %q: decoded %v, encoding/json and Validate %v", what, b, err, wantErr)
	case err == nil && !reflect.DeepEqual(normalTimes(got), normalTimes(want)):
		t.Fatalf("%s %q: decoded %+v, encoding/json %+v", what, b, got, want)
	}
}

// normalTimes is e (a pointer's copy) with each time.Time replaced by its
// RFC 3339 text: the same instant and offset compare equal however the
// decoder built its Location.
func normalTimes(e any) map[string]any {
	out := map[string]any{}
	rv := reflect.ValueOf(e)
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := 0; i < v.NumField(); i++ {
			fv, name := v.Field(i), prefix+v.Type().Field(i).Name
			switch x := fv.Interface().(type) {
			case time.Time:
				out[name] = x.Format(time.RFC3339Nano)
			case Header:
				walk(fv, name+".")
			default:
				out[name] = x
			}
		}
	}
	walk(rv, "")
	return out
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
