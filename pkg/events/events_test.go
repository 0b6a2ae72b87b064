package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleClick() ClickRecorded {
	return ClickRecorded{
		Header:      Header{ID: "01M7W68T3SQ8ZK4TW3N6B0RX5M2H9D7PJC", Type: TypeClickRecorded, SchemaVersion: 1},
		OccurredAt:  time.Date(2026, 11, 20, 9, 58, 12, 345000000, time.UTC),
		Code:        "ml-101",
		Partner:     "coursera",
		CourseID:    "ml-101",
		Destination: "https://www.coursera.org/learn/ml?clickid=01M7W68T3SQ8ZK4TW3N6B0RX5M2H9D7PJC",
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64)",
		Referer:     "https://catalog.example/courses/ml",
		UTMSource:   "newsletter",
		UTMMedium:   "email",
		UTMCampaign: "nov",
		Placement:   "hero",
		VisitorHash: "b7Hk2c9QpXr0",
		Unique:      true,
	}
}

func sampleConversion() ConversionReceived {
	return ConversionReceived{
		Header:         Header{ID: "cv_3f2a9c0d1e", Type: TypeConversionReceived, SchemaVersion: 1},
		Partner:        "coursera",
		OrderID:        "A-1001",
		ClickID:        "01M7W68T3SQ8ZK4TW3N6B0RX5M2H9D7PJC",
		CourseID:       "ml-101",
		Status:         StatusApproved,
		RawStatus:      "APPROVED",
		SaleAmount:     "49.00",
		Commission:     "7.35",
		Currency:       "USD",
		OccurredAt:     time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		ReceivedAt:     time.Date(2026, 11, 20, 10, 0, 1, 250000000, time.UTC),
		Source:         SourceWebhook,
		IdempotencyKey: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
	}
}

// TestGolden pins the wire format: an encoding change fails here before it
// reaches a consumer. Run with -update after a deliberate, compatible change.
func TestGolden(t *testing.T) {
	tests := []struct {
		file   string
		event  any
		decode func([]byte) (any, error)
		// fast is the hand-written encoder the services publish with:
		// the golden file pins it as well as Marshal.
		fast func() ([]byte, error)
	}{
		{"click_recorded.v1.json", sampleClick(), func(b []byte) (any, error) { return DecodeClick(b) },
			func() ([]byte, error) { c := sampleClick(); return c.AppendJSON(nil), nil }},
		{"conversion_received.v1.json", sampleConversion(), func(b []byte) (any, error) { return DecodeConversion(b) },
			func() ([]byte, error) { c := sampleConversion(); return c.AppendJSON(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Marshal(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
				t.Fatalf("wire format changed:\n got %s\nwant %s", got, want)
			}
			if fast, err := tt.fast(); err != nil || !bytes.Equal(fast, got) {
				t.Fatalf("AppendJSON = %s, %v; Marshal %s", fast, err, got)
			}
			back, err := tt.decode(want)
			if err != nil {
				t.Fatalf("golden file does not decode: %v", err)
			}
			if !reflect.DeepEqual(back, tt.event) {
				t.Fatalf("decode(golden) = %+v, want %+v", back, tt.event)
			}
		})
	}
}

func TestDecodeAcceptsUnknownFields(t *testing.T) {
	b, _ := Marshal(sampleClick())
	b = append(b[:len(b)-1], []byte(`,"country":"DE"}`)...)
	if _, err := DecodeClick(b); err != nil {
		t.Fatalf("unknown field rejected: %v", err)
	}
}

// Times encoding/json reads, in forms segmentio's fast path refuses (a
// one-digit hour, a comma before the fraction), are read as encoding/json
// reads them, not dead-lettered (found by FuzzDecode).
func TestDecodeTakesTimesEncodingJSONTakes(t *testing.T) {
	for _, at := range []string{"2026-11-20T9:00:00Z", "2026-11-20T09:00:00,5Z", "2026-11-20T9:00:00,5+01:00"} {
		b := []byte(`{"id":"x","type":"click.recorded","schema_version":1,"occurred_at":"` + at + `","code":"a","partner":"p"}`)
		var want ClickRecorded
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("encoding/json refuses %s: %v", at, err)
		}
		got, err := DecodeClick(b)
		if err != nil || !got.OccurredAt.Equal(want.OccurredAt) {
			t.Errorf("DecodeClick(%s) = %v, %v; want %v", at, got.OccurredAt, err, want.OccurredAt)
		}
		var in ClickRecorded
		if err := DecodeClickInPlace(b, &in); err != nil || !in.OccurredAt.Equal(want.OccurredAt) {
			t.Errorf("DecodeClickInPlace(%s) = %v, %v; want %v", at, in.OccurredAt, err, want.OccurredAt)
		}
	}
}

func TestDecodeRejectsPoison(t *testing.T) {
	click := func(mut func(*ClickRecorded)) []byte {
		c := sampleClick()
		mut(&c)
		b, _ := Marshal(c)
		return b
	}
	conv := func(mut func(*ConversionReceived)) []byte {
		c := sampleConversion()
		mut(&c)
		b, _ := Marshal(c)
		return b
	}
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
		code   string
	}{
		{"not json", decodeClickErr, []byte("{"), "malformed_event"},
		{"trailing data", decodeClickErr, append(click(func(*ClickRecorded) {}), []byte(" {}")...), "malformed_event"},
		{"wrong type", decodeClickErr, click(func(c *ClickRecorded) { c.Type = TypeConversionReceived }), "wrong_event_type"},
		{"future version", decodeClickErr, click(func(c *ClickRecorded) { c.SchemaVersion = 2 }), "unsupported_schema_version"},
		{"no id", decodeClickErr, click(func(c *ClickRecorded) { c.ID = "" }), "missing_field"},
		{"no code", decodeClickErr, click(func(c *ClickRecorded) { c.Code = "" }), "missing_field"},
		{"no time", decodeClickErr, click(func(c *ClickRecorded) { c.OccurredAt = time.Time{} }), "missing_field"},
		{"no order", decodeConvErr, conv(func(c *ConversionReceived) { c.OrderID = "" }), "missing_field"},
		{"bad status", decodeConvErr, conv(func(c *ConversionReceived) { c.Status = "paid-ish" }), "invalid_status"},
		{"float money", decodeConvErr, []byte(`{"id":"x","type":"conversion.received","schema_version":1,"partner":"p","order_id":"o","status":"pending","sale_amount":49.5,"commission":"1.00","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`), "malformed_event"},
		{"too precise", decodeConvErr, conv(func(c *ConversionReceived) { c.Commission = "7.355" }), "invalid_money"},
		{"unknown currency", decodeConvErr, conv(func(c *ConversionReceived) { c.Currency = "XXX" }), "invalid_money"},
		{"8 KB placement", decodeClickErr, click(func(c *ClickRecorded) { c.Placement = strings.Repeat("a", 8192) }), "invalid_tag"},
		{"placement with a space", decodeClickErr, click(func(c *ClickRecorded) { c.Placement = "a b" }), "invalid_tag"},
		{"binary utm", decodeClickErr, click(func(c *ClickRecorded) { c.UTMSource = "\xff\xfe" }), "invalid_tag"},
		{"65-byte utm", decodeClickErr, click(func(c *ClickRecorded) { c.UTMContent = strings.Repeat("x", 65) }), "invalid_tag"},
		{"31 KB user agent", decodeClickErr, click(func(c *ClickRecorded) { c.UserAgent = strings.Repeat("M", 31<<10) }), "field_too_long"},
		{"long referer", decodeClickErr, click(func(c *ClickRecorded) { c.Referer = "https://x/" + strings.Repeat("r", 2048) }), "field_too_long"},
		{"long code", decodeClickErr, click(func(c *ClickRecorded) { c.Code = strings.Repeat("c", 65) }), "field_too_long"},
		{"long order id", decodeConvErr, conv(func(c *ConversionReceived) { c.OrderID = strings.Repeat("o", 129) }), "field_too_long"},
		{"long click id", decodeConvErr, conv(func(c *ConversionReceived) { c.ClickID = strings.Repeat("k", 129) }), "field_too_long"},
		{"long reason", decodeConvErr, conv(func(c *ConversionReceived) { c.ReasonCode = strings.Repeat("r", 129) }), "field_too_long"},
		{"near-int64 commission", decodeConvErr, conv(func(c *ConversionReceived) { c.Commission = "92233720368547758.07" }), "amount_too_large"},
		{"near-int64 negative sale", decodeConvErr, conv(func(c *ConversionReceived) { c.SaleAmount = "-92233720368547758.07" }), "amount_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(tt.in)
			if !errors.Is(err, errs.Invalid) || errs.Decide(err) != errs.DeadLetter {
				t.Fatalf("err = %v, want an Invalid (dead-letter) error", err)
			}
			if code, _ := errs.Public(err); code != tt.code {
				t.Fatalf("code = %q, want %q", code, tt.code)
			}
		})
	}
}

func decodeClickErr(b []byte) error { _, err := DecodeClick(b); return err }

// DecodeClickInPlace gives what DecodeClick gives, escapes resolved,
// with unescaped strings inside the message and nothing allocated.
func TestDecodeClickInPlace(t *testing.T) {
	want := sampleClick()
	want.UserAgent = "Mozilla/5.0 \"quoted\" é"
	b, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got ClickRecorded
	err = DecodeClickInPlace(b, &got)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeClickInPlace = %+v, %v; want %+v", got, err, want)
	}
	if i := bytes.Index(b, []byte(want.Code)); i < 0 || unsafe.StringData(got.Code) != &b[i] {
		t.Errorf("code %q was copied, not decoded in place", got.Code)
	}
	for _, bad := range []string{`{}`, `{"type":"click.recorded"} x`, `[1]`, ``} {
		if err := DecodeClickInPlace([]byte(bad), &got); !errors.Is(err, errs.Invalid) {
			t.Errorf("DecodeClickInPlace(%q) = %v, want Invalid", bad, err)
		}
	}
	// Only the user agent, which holds escapes; against one a field
	// and the click copying.
	if n := testing.AllocsPerRun(100, func() { _ = DecodeClickInPlace(b, &got) }); n > 1 {
		t.Errorf("DecodeClickInPlace allocates %.0f times a click, want at most 1", n)
	}
}
func decodeConvErr(b []byte) error { _, err := DecodeConversion(b); return err }

func TestKeys(t *testing.T) {
	if got := string(sampleConversion().Key()); got != "coursera/A-1001" {
		t.Errorf("conversion key = %q", got)
	}
	if got := string(sampleClick().Key()); got != sampleClick().ID {
		t.Errorf("click key = %q", got)
	}
}

func TestTopicsHaveDeadLetterTwins(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Topics() {
		names[s.Name] = true
	}
	for _, topic := range []string{TopicClicks, TopicConversions} {
		if !names[topic] || !names[DeadLetterTopic(topic)] {
			t.Errorf("%s or its dead-letter twin is missing from Topics()", topic)
		}
	}
}

func TestEdgeCuts(t *testing.T) {
	tests := []struct {
		name, in, want string
		cut            func(string) string
	}{
		{"short user agent kept", "Mozilla/5.0", "Mozilla/5.0", func(s string) string { u, _ := CutUserAgent(s); return u }},
		{"long user agent cut to 512", strings.Repeat("a", 600), strings.Repeat("a", 512), func(s string) string { u, _ := CutUserAgent(s); return u }},
		{"cut on a character boundary", strings.Repeat("a", 511) + "é", strings.Repeat("a", 511), func(s string) string { u, _ := CutUserAgent(s); return u }},
		{"0xFF bytes become U+FFFD within the cap", strings.Repeat("\xff", 31<<10), strings.Repeat("\uFFFD", 170), func(s string) string { u, _ := CutUserAgent(s); return u }},
		{"referer query dropped", "https://catalog.example/c?q=secret#x", "https://catalog.example/c", CutReferer},
		{"referer user information dropped", "https://alice:s3cret@ref.example/p", "https://ref.example/p", CutReferer},
		{"referer user information with a semicolon dropped", "https://alice:s3;cret@ref.example/p", "https://ref.example/p", CutReferer},
		{"referer path parameters dropped", "https://ref.example/p;jsessionid=ABC123/q", "https://ref.example/p/q", CutReferer},
		// Path parameters go where they stand, not with the segments after them.
		{"referer path parameters in two segments", "https://ref.example/a;x=1/b;y=2/c?q#f", "https://ref.example/a/b/c", CutReferer},
		{"referer path parameter mid-path", "https://shop.example/catalog;region=eu/courses/ml-101", "https://shop.example/catalog/courses/ml-101", CutReferer},
		// User information ends at the last '@' before the path, whatever
		// an unencoded password holds.
		{"referer password with a hash", "https://alice:hunter2#1@ref.example/p", "https://ref.example/p", CutReferer},
		{"referer password with a question mark", "https://alice:pa?ss@ref.example/p", "https://ref.example/p", CutReferer},
		{"an at sign in the path kept", "https://ref.example/@alice/posts", "https://ref.example/@alice/posts", CutReferer},
		{"referer without a scheme", "ref.example/p?q", "ref.example/p", CutReferer},
		{"referer cut to 2048", "https://x/" + strings.Repeat("p", 3000), ("https://x/" + strings.Repeat("p", 3000))[:2048], CutReferer},
		{"valid tag kept", "hero-1.a_b~", "hero-1.a_b~", Tag},
		{"tag with a slash dropped", "a/b", "", Tag},
		{"65-byte tag dropped", strings.Repeat("t", 65), "", Tag},
		{"64-byte tag kept", strings.Repeat("t", 64), strings.Repeat("t", 64), Tag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cut(tt.in)
			if got != tt.want {
				t.Fatalf("got %q (%d bytes), want %q", got, len(got), tt.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("not UTF-8: %q", got)
			}
		})
	}
	if _, long := CutUserAgent(strings.Repeat("a", 513)); !long {
		t.Error("a 513-byte user agent is not reported as oversized")
	}
	if _, long := CutUserAgent(strings.Repeat("a", 512)); long {
		t.Error("a 512-byte user agent is reported as oversized")
	}
}

func TestPrintableText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"ORD-2026-11-0001", true},
		{"Café Zürich 注文 ✓", true},
		{"\uFFFD literal", true}, // a replacement character that is really there
		{"a\x00b", false},
		{"a\x01b", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"esc\x1b[31m", false},
		{"del\x7f", false},
		{"nel\u0085", false}, // C1
		{"\u009f", false},
		{"latin-1 caf\xe9", false},
		{"\xff\xfe", false},
	} {
		if got := PrintableText(tt.in); got != tt.want {
			t.Errorf("PrintableText(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
