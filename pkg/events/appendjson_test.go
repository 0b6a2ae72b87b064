package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAppendJSONMatchesMarshal(t *testing.T) {
	cases := []ClickRecorded{sampleClick(), {}, {Header: Header{ID: "x"}, Bot: true, BotReason: "crawler", UserAgent: "a\"b\\c\n\x01<>&\u2028é\xff"}}
	for _, c := range cases {
		want, _ := Marshal(c)
		if got := c.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("01J", "ua\x00\"", "https://x/?a=1&b=<2>", "\xff\xfe", int64(1763632692345678901), true)
	f.Fuzz(func(t *testing.T, id, ua, dest, ref string, nanos int64, bot bool) {
		c := ClickRecorded{Header: Header{ID: id, Type: TypeClickRecorded, SchemaVersion: 1}, UserAgent: ua,
			Destination: dest, Referer: ref, Code: ref, OccurredAt: time.Unix(0, nanos).UTC(), Bot: bot, VisitorHash: id}
		want, err := Marshal(c)
		if err != nil {
			return // a time outside JSON's range: the hot path never makes one
		}
		if got := c.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkClickJSON(b *testing.B) {
	c := sampleClick()
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			buf = c.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Marshal(c)
		}
	})
}

// BenchmarkDecodeClick: what a consumer pays to read a click, copying
// each string field or decoding in place.
func BenchmarkDecodeClick(b *testing.B) {
	c := sampleClick()
	msg := c.AppendJSON(nil)
	for _, d := range []struct {
		name   string
		decode func([]byte) (ClickRecorded, error)
	}{{"copy", DecodeClick}, {"in-place", func() func([]byte) (ClickRecorded, error) {
		var c ClickRecorded // a batch's slot, as reporting decodes into
		return func(b []byte) (ClickRecorded, error) { return c, DecodeClickInPlace(b, &c) }
	}()}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := d.decode(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAppendStringEveryPosition puts each byte that decides the fast path
// (the edges of printable ASCII, the quote, the backslash, a UTF-8 lead)
// at every position of strings around the eight-byte stride, against
// encoding/json.
func TestAppendStringEveryPosition(t *testing.T) {
	for _, b := range []byte{0x00, 0x1f, 0x20, '"', '\\', '!', '#', '[', ']', 0x7e, 0x7f, 0x80, 0xc3, 0xe2, 0xff} {
		for n := 1; n <= 17; n++ {
			for at := range n {
				s := []byte(strings.Repeat("a", n))
				s[at] = b
				want, _ := json.Marshal(string(s))
				if got := appendString(nil, string(s)); !bytes.Equal(got, want) {
					t.Fatalf("byte %#x at %d of %d: got %s, want %s", b, at, n, got, want)
				}
			}
		}
	}
}

func TestConversionAppendJSONMatchesMarshal(t *testing.T) {
	full := sampleConversion()
	full.ClickID, full.CourseID, full.RawStatus, full.ReasonCode, full.ReplayOf, full.AcceptedSeq = "c\"1", "ml-101", "Approved ✓", "R\x01", "01J-old", 42
	berlin := time.FixedZone("CET", 3600)
	odd := sampleConversion()
	odd.OccurredAt = odd.OccurredAt.In(time.FixedZone("", 5*3600+45*60+30)) // seconds in the offset
	cases := []ConversionReceived{sampleConversion(), full, {}, odd,
		{OccurredAt: time.Date(2026, 3, 29, 1, 30, 0, 1, berlin), ReceivedAt: time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC).In(berlin)},
		{OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},                           // Marshal's error
		{OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))},         // likewise
		{OccurredAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), ReceivedAt: time.Unix(0, 0)}, // likewise
	}
	for _, c := range cases {
		want, wantErr := Marshal(c)
		got, err := c.AppendJSON(nil)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || err == nil && !bytes.Equal(got, want) {
			t.Errorf("AppendJSON = %s, %v\nwant %s, %v", got, err, want, wantErr)
		}
	}
}

func FuzzConversionAppendJSON(f *testing.F) {
	f.Add("01J", "A-1\"", "c\x00", "approved", "49.00", int64(1763632692345678901), int64(0), 3600, int64(7))
	f.Fuzz(func(t *testing.T, id, order, click, status, amount string, nanos, received int64, offset int, seq int64) {
		zone := time.FixedZone("", offset%(30*3600))
		c := ConversionReceived{Header: Header{ID: id, Type: TypeConversionReceived, SchemaVersion: 2}, Partner: order + click,
			OrderID: order, ClickID: click, CourseID: order, Status: status, RawStatus: status, ReasonCode: amount,
			SaleAmount: amount, Commission: amount, Currency: status, OccurredAt: time.Unix(0, nanos).In(zone), ReceivedAt: time.Unix(received, nanos%1e9).UTC(),
			Source: "webhook", IdempotencyKey: id, ReplayOf: click, AcceptedSeq: seq}
		want, wantErr := Marshal(c)
		got, err := c.AppendJSON(nil)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON = %s, %v\nwant %s, %v", got, err, want, wantErr)
		}
	})
}

func BenchmarkConversionJSON(b *testing.B) {
	c := sampleConversion()
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = c.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Marshal(c)
		}
	})
}

func TestAppendStringMapMatchesMarshal(t *testing.T) {
	for _, m := range []map[string]string{nil, {}, {"traceparent": "00-abc-def-01"},
		{"b": "2", "a": "1", "": "", "é\x00": "\"<&>\u2028\xff", "User-Agent": "x"}} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(m)
		if got := AppendStringMap(nil, m); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("AppendStringMap(%q)\n got %s\nwant %s", m, got, want.Bytes())
		}
	}
}
