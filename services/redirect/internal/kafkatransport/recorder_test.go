package kafkatransport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
)

func openLog(t *testing.T) *clicklog.Log {
	t.Helper()
	l, err := clicklog.Open(clicklog.Options{Dir: t.TempDir(), Sync: clicklog.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// capped is a click with every value at its v1.1 cap, each made of a
// filler (one character repeated, cut to the cap on whole characters):
// the link's values (validated printable) of linkFiller, the visitor's
// (User-Agent, referer) of visitorFiller.
func capped(linkFiller, visitorFiller string) events.ClickRecorded {
	fill := func(filler string, n int) string {
		s := strings.Repeat(filler, n/len(filler)+1)
		for len(s) > n {
			_, size := lastRune(s)
			s = s[:len(s)-size]
		}
		return s
	}
	tag := strings.Repeat("t", events.MaxTagBytes)
	return events.ClickRecorded{
		Header:     events.Header{ID: strings.Repeat("0", clickid.Length), Type: events.TypeClickRecorded, SchemaVersion: events.SchemaVersion},
		OccurredAt: time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC),
		Code:       strings.Repeat("c", events.MaxCodeBytes), Partner: strings.Repeat("p", events.MaxPartnerBytes),
		CourseID: fill(linkFiller, events.MaxPartnerValueBytes),
		// A destination is at most 2,048 bytes of the link's template
		// (which could be escapable) filled to at most 8,192 with escaped
		// macro values (which are not).
		Destination: fill(linkFiller, 2048) + strings.Repeat("%", events.MaxDestinationBytes-2048),
		UserAgent:   fill(visitorFiller, events.MaxUserAgentBytes), Referer: fill(visitorFiller, events.MaxRefererBytes),
		UTMSource: tag, UTMMedium: tag, UTMCampaign: tag, UTMTerm: tag, UTMContent: tag, Placement: tag,
		VisitorHash: strings.Repeat("v", 22), Bot: true, BotReason: strings.Repeat("r", events.MaxTagBytes), Unique: true,
	}
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return []rune(s[i:])[0], len(s) - i
		}
	}
	return 0, 1
}

// TestWorstCaseClickFits: a click with every value at its cap, made of
// the characters JSON escapes, fits in MaxFrameBytes, so the bound on
// what a visitor adds to the click log is MaxFrameBytes per click allowed
// by the rate limits; a frame above it is refused.
func TestWorstCaseClickFits(t *testing.T) {
	tests := []struct {
		name, link, visitor string
		atMost              int // bytes of the frame: the estimates in MaxFrameBytes' comment
	}{
		{"plain", "a", "a", 12 << 10},
		{"quotes", `"`, `"`, 17 << 10},
		{"line separators", "\u2028", "\u2028", 17 << 10}, // three bytes, escaped to six
		{"tabs", `"`, "\t", 17 << 10},                     // the only control character a header may carry
		// Links cannot hold control characters (Validate); a visitor's
		// values could only if they came from elsewhere than a header.
		{"control characters", `"`, "\x01", 27 << 10},
	}
	rec := NewRecorder(openLog(t), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := capped(tt.link, tt.visitor)
			if err := c.Validate(); err != nil {
				t.Fatalf("the capped click is not a valid event: %v", err)
			}
			n := len(appendFrame(nil, []byte(c.ID), []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), c.AppendJSON(nil)))
			t.Logf("%d bytes", n)
			if n > tt.atMost || n > MaxFrameBytes {
				t.Fatalf("a %s click frames to %d bytes, more than %d (MaxFrameBytes %d)", tt.name, n, tt.atMost, MaxFrameBytes)
			}
			if err := rec.Record(context.Background(), c); err != nil {
				t.Fatalf("Record: %v", err)
			}
		})
	}
	big := capped("a", "a")
	big.UserAgent = strings.Repeat("a", MaxFrameBytes)
	if err := rec.Record(context.Background(), big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a frame above MaxFrameBytes: Record = %v, want ErrFrameTooLarge", err)
	}
	if err := rec.Record(context.Background(), capped("a", "a")); err != nil {
		t.Fatalf("a click after a refused one: %v", err)
	}
}

// TestClickCarriesItsTraceContext: a click recorded within a sampled span
// carries that span's traceparent; one recorded without a span carries a
// new, unsampled one (flags 00), so every click has one.
func TestClickCarriesItsTraceContext(t *testing.T) {
	log := openLog(t)
	rec := NewRecorder(log, nil)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	c := capped("a", "a")
	if err := rec.Record(trace.ContextWithSpanContext(context.Background(), sc), c); err != nil {
		t.Fatal(err)
	}
	if err := rec.Record(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	records, _, err := log.Read(clicklog.Position{}, 10)
	if err != nil || len(records) != 2 {
		t.Fatalf("%d records, %v", len(records), err)
	}
	var got []string
	for _, r := range records {
		_, tp, _, err := parseFrame(r.Payload)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(tp))
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got[0] != want {
		t.Errorf("within a sampled span: traceparent %q, want %q", got[0], want)
	}
	if tp := got[1]; len(tp) != 55 || !strings.HasSuffix(tp, "-00") || strings.Contains(tp, "4bf92f3577b34da6") {
		t.Errorf("without a span: traceparent %q, want a new unsampled one", tp)
	}
}
