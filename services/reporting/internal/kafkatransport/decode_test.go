package kafkatransport

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

func golden(t testing.TB, name string) []byte {
	b, err := os.ReadFile("../../../../pkg/events/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 2, 0, time.UTC)
	c, err := DecodeConversion(kafka.Message{Topic: "conversions.v1", Value: golden(t, "conversion_received.v1.json"), Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if c.Commission != 735 || c.Sale != 4900 || c.Partner != "coursera" || !c.RecordedAt.Equal(at) || c.CourseID != "ml-101" {
		t.Fatalf("conversion = %+v", c)
	}
	k, err := DecodeClick(kafka.Message{Topic: "clicks.v1", Value: golden(t, "click_recorded.v1.json"), Time: at})
	if err != nil || k.Code != "ml-101" || k.Placement != "hero" {
		t.Fatalf("click = %+v %v", k, err)
	}
	for name, v := range map[string]string{
		"negative":   `{"id":"x","type":"conversion.received","schema_version":1,"partner":"p","order_id":"o","status":"approved","sale_amount":"-1.00","commission":"1.00","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`,
		"year 1970":  `{"id":"x","type":"conversion.received","schema_version":1,"partner":"p","order_id":"o","status":"approved","sale_amount":"1.00","commission":"1.00","currency":"USD","occurred_at":"1970-01-01T00:00:00Z"}`,
		"not json":   `{"id":`,
		"wrong type": `{"id":"x","type":"click.recorded","schema_version":1}`,
	} {
		if _, err := DecodeConversion(kafka.Message{Value: []byte(v)}); errs.HTTPStatus(err) != 400 {
			t.Errorf("%s: err = %v, want poison (invalid)", name, err)
		}
	}
}

// Events beyond the schema's limits are poison at decoding, with the
// code the DLQ carries, before anything reaches SQL.
func TestDecodeRefusesHostileValues(t *testing.T) {
	// click is a click whose field holds value, written as a forged
	// producer may: bytes that are not UTF-8 go out as they are.
	click := func(field, value string) []byte {
		v, _ := json.Marshal(value)
		if !utf8.ValidString(value) {
			v = []byte(`"` + value + `"`)
		}
		return []byte(`{"id":"k1","type":"click.recorded","schema_version":1,"occurred_at":"2026-11-20T10:00:00Z",` +
			`"code":"ml-101","partner":"coursera","course_id":"ml-101","destination":"https://example.com/",` +
			`"visitor_hash":"v","unique":true,"` + field + `":` + string(v) + `}`)
	}
	conv := func(commission string) []byte {
		return []byte(`{"id":"e1","type":"conversion.received","schema_version":1,"partner":"coursera","order_id":"A-1",` +
			`"status":"approved","sale_amount":"10.00","commission":"` + commission + `","currency":"USD",` +
			`"occurred_at":"2026-11-20T10:00:00Z","source":"webhook","idempotency_key":"e1"}`)
	}
	for _, tt := range []struct {
		name  string
		topic string
		value []byte
		code  string
	}{
		{"8 KB placement", "clicks.v1", click("placement", strings.Repeat("a", 8192)), "invalid_tag"},
		{"placement with a space", "clicks.v1", click("placement", "a b"), "invalid_tag"},
		{"utm_source of 65 bytes", "clicks.v1", click("utm_source", strings.Repeat("u", 65)), "invalid_tag"},
		{"31 KB binary user agent", "clicks.v1", click("user_agent", strings.Repeat("\xff", 31<<10)), "field_too_long"},
		{"near-int64 commission", "conversions.v1", conv("92233720368547758.07"), "amount_too_large"},
		{"commission past int64", "conversions.v1", conv("92233720368547758.08"), "invalid_money"},
		{"commission past the ceiling", "conversions.v1", conv("10000000000.01"), "amount_too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.topic == "clicks.v1" {
				_, err = DecodeClick(kafka.Message{Topic: tt.topic, Value: tt.value})
			} else {
				_, err = DecodeConversion(kafka.Message{Topic: tt.topic, Value: tt.value})
			}
			if code, _ := errs.Public(err); errs.Decide(err) != errs.DeadLetter || code != tt.code {
				t.Fatalf("err = %v (code %q), want poison with code %s", err, code, tt.code)
			}
		})
	}
	// At the limits exactly, they are events.
	if _, err := DecodeConversion(kafka.Message{Value: conv("10000000000.00")}); err != nil {
		t.Fatalf("commission at the ceiling: %v", err)
	}
	if _, err := DecodeClick(kafka.Message{Value: click("placement", strings.Repeat("a", 64))}); err != nil {
		t.Fatalf("placement of 64 bytes: %v", err)
	}
	// A short binary user agent is an event (reporting does not store
	// user agents; the redirect cut it to valid UTF-8 anyway).
	if _, err := DecodeClick(kafka.Message{Value: click("user_agent", strings.Repeat("\xff", 100))}); err != nil {
		t.Fatalf("100 bytes of 0xFF as user agent: %v", err)
	}
}

// A click's occurred_at is cut to the microsecond PostgreSQL keeps: the
// redirect writes nanoseconds, and PostgreSQL rounding 23:59:59.9999996
// on the last day of a month put the click in the next month's partition
// (or none: set aside as database_refused_data) while the report counted
// it on the day before (from a time check).
func TestDecodeClickTruncatesOccurredAt(t *testing.T) {
	var ev map[string]any
	if err := json.Unmarshal(golden(t, "click_recorded.v1.json"), &ev); err != nil {
		t.Fatal(err)
	}
	ev["occurred_at"] = "2026-10-31T23:59:59.9999996Z"
	b, _ := json.Marshal(ev)
	k, err := DecodeClick(kafka.Message{Topic: "clicks.v1", Value: b, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if got := k.OccurredAt.Format(time.RFC3339Nano); got != "2026-10-31T23:59:59.999999Z" {
		t.Fatalf("occurred_at = %s, want 2026-10-31T23:59:59.999999Z", got)
	}
}

// occurred_at is cut to the microsecond PostgreSQL keeps, whatever the
// event on Kafka says (one published with nanoseconds before conversions
// cut them, or a replay of it): a decoded event orders as it will read
// back, and events within one microsecond apply in acceptance order.
func TestDecodeConversionTruncatesOccurredAt(t *testing.T) {
	conv := func(id, occurred string, seq int64) []byte {
		return []byte(`{"id":"` + id + `","type":"conversion.received","schema_version":1,"partner":"coursera","order_id":"A-1",` +
			`"status":"approved","sale_amount":"10.00","commission":"1.00","currency":"USD","occurred_at":"` + occurred + `",` +
			`"source":"webhook","idempotency_key":"` + id + `","accepted_seq":` + strconv.FormatInt(seq, 10) + `}`)
	}
	for _, tt := range []struct {
		occurred, want string
	}{
		{"2026-11-11T10:00:00Z", "2026-11-11T10:00:00Z"},
		{"2026-11-11T10:00:00.000001Z", "2026-11-11T10:00:00.000001Z"},
		{"2026-11-11T10:00:00.000000001Z", "2026-11-11T10:00:00Z"},
		{"2026-11-11T10:00:00.000000999Z", "2026-11-11T10:00:00Z"},
		{"2026-11-11T10:00:00.123456789Z", "2026-11-11T10:00:00.123456Z"},
		{"2026-11-11T10:00:00.9999995Z", "2026-11-11T10:00:00.999999Z"},
		{"2026-11-11T11:00:00.000002500+01:00", "2026-11-11T10:00:00.000002Z"},
	} {
		t.Run(tt.occurred, func(t *testing.T) {
			c, err := DecodeConversion(kafka.Message{Value: conv("e1", tt.occurred, 1)})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.OccurredAt.Format(time.RFC3339Nano); got != tt.want {
				t.Fatalf("occurred_at = %s, want %s", got, tt.want)
			}
		})
	}
	// Accepted first, 1 ns later: as read back, the same instant, so it
	// comes first.
	first, err := DecodeConversion(kafka.Message{Value: conv("e1", "2026-11-11T10:00:00.000000001Z", 1)})
	if err != nil {
		t.Fatal(err)
	}
	second, err := DecodeConversion(kafka.Message{Value: conv("e2", "2026-11-11T10:00:00.000000000Z", 2)})
	if err != nil {
		t.Fatal(err)
	}
	if ledger.Compare(first.Event, second.Event) >= 0 {
		t.Fatalf("the event accepted first orders after the one accepted second: %+v, %+v", first.Event, second.Event)
	}
}

func FuzzDecodeConversion(f *testing.F) {
	f.Add(golden(f, "conversion_received.v1.json"))
	f.Add([]byte(`{"id":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeConversion(kafka.Message{Value: b})
		if err != nil {
			if errs.HTTPStatus(err) != 400 {
				t.Fatalf("not poison: %v", err)
			}
			return
		}
		if c.Sale < 0 || c.Commission < 0 || c.Sale > events.MaxAmountMinor || c.Commission > events.MaxAmountMinor ||
			c.OrderID == "" || c.Partner == "" || len(c.OrderID) > events.MaxPartnerValueBytes {
			t.Fatalf("accepted %+v", c)
		}
	})
}

func FuzzDecodeClick(f *testing.F) {
	f.Add(golden(f, "click_recorded.v1.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClick(kafka.Message{Value: b})
		if err != nil {
			if errs.HTTPStatus(err) != 400 {
				t.Fatalf("not poison: %v", err)
			}
			return
		}
		if c.ID == "" || c.Code == "" || c.OccurredAt.Year() < 2000 || !events.ValidTag(c.Placement) ||
			!events.ValidTag(c.UTMSource) || len(c.UserAgent) > events.MaxUserAgentBytes || len(c.Code) > events.MaxCodeBytes {
			t.Fatalf("accepted %+v", c)
		}
	})
}
