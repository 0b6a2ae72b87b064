package kafkatransport

import (
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/errs"
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
		if c.Sale < 0 || c.Commission < 0 || c.OrderID == "" || c.Partner == "" {
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
		if c.ID == "" || c.Code == "" || c.OccurredAt.Year() < 2000 {
			t.Fatalf("accepted %+v", c)
		}
	})
}
