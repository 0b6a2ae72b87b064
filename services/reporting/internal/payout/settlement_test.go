package payout

import (
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestParseSettlement(t *testing.T) {
	lines, err := ParseSettlement([]byte("\ufeffOrder_ID, Commission ,STATUS,Currency,Note\nA-1,7.35,Paid,usd,x\nA-2,1200,declined,JPY\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{Line: 2, OrderID: "A-1", Commission: 735, Currency: "USD", Status: "approved"}, {Line: 3, OrderID: "A-2", Commission: 1200, Currency: "JPY", Status: "reversed"}}
	if len(lines) != 2 || lines[0] != want[0] || lines[1] != want[1] {
		t.Fatalf("lines = %+v", lines)
	}
	for name, c := range map[string]struct{ body, currency string }{
		"no header":        {"", "USD"},
		"missing column":   {"order_id,status\nA-1,paid\n", "USD"},
		"no currency":      {"order_id,commission,status\nA-1,1.00,paid\n", ""},
		"bad status":       {"order_id,commission,status\nA-1,1.00,maybe\n", "USD"},
		"negative":         {"order_id,commission,status\nA-1,-1.00,paid\n", "USD"},
		"too precise":      {"order_id,commission,status\nA-1,1.001,paid\n", "USD"},
		"empty order":      {"order_id,commission,status\n,1.00,paid\n", "USD"},
		"no lines":         {"order_id,commission,status\n", "USD"},
		"unbalanced quote": {"order_id,commission,status\n\"A-1,1.00,paid\n", "USD"},
	} {
		if _, err := ParseSettlement([]byte(c.body), c.currency); err == nil || errs.HTTPStatus(err) >= 500 {
			t.Errorf("%s: err = %v, want a 4xx", name, err)
		}
	}
}

func FuzzParseSettlement(f *testing.F) {
	f.Add([]byte("order_id,commission,status\nA-1,7.35,approved\n"), "USD")
	f.Add([]byte("order_id,commission,status,currency\nA-1,1200,paid,JPY\nA-2,\"1.00\",reversed,EUR\n"), "")
	f.Fuzz(func(t *testing.T, body []byte, currency string) {
		lines, err := ParseSettlement(body, currency)
		if err != nil {
			if s := errs.HTTPStatus(err); s >= 500 {
				t.Fatalf("status %d: %v", s, err)
			}
			return
		}
		for _, l := range lines {
			if l.OrderID == "" || l.Commission < 0 || l.Status == "" {
				t.Fatalf("accepted a bad line: %+v", l)
			}
		}
	})
}
