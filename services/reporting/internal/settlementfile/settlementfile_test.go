package settlementfile

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestExportsGolden reads each network's export, with the column set its
// documentation names (testdata/README.md), into the rows a dry run
// compares and an apply will use.
func TestExportsGolden(t *testing.T) {
	generic := url.Values{"order_id_column": {"Reference"}, "commission_column": {"Payout"}, "status_column": {"State"},
		"date_column": {"Booked"}, "date_format": {"eu"}, "status_map": {"ok:approved,storno:reversed"}}
	cases := []struct {
		name, format, file, currency string
		q                            url.Values
	}{
		{"impact_paystub", "impact", "impact_paystub_actions.csv", "USD", nil},
		{"impact_advanced", "impact", "impact_advanced_actions.csv", "", nil},
		{"awin", "awin", "awin_transactions.csv", "GBP", nil},
		{"cj", "cj", "cj_commission_detail.csv", "", nil},
		{"generic", "generic", "generic.csv", "EUR", generic},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Lookup(c.format, c.q)
			if err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			lines, err := Parse(f, body, c.currency)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(lines, "", "  ")
			path := filepath.Join("testdata", c.name+".golden.json")
			if *update {
				os.WriteFile(path, append(got, '\n'), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			// The same export with CRLF line ends (RFC 4180, and what a
			// network's Windows-made export has) reads the same.
			crlf := strings.ReplaceAll(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n", "\r\n")
			lines, err = Parse(f, []byte(crlf), c.currency)
			if err != nil {
				t.Fatalf("CRLF: %v", err)
			}
			if again, _ := json.MarshalIndent(lines, "", "  "); string(again) != string(got) {
				t.Errorf("CRLF: got\n%s\nwant\n%s", again, got)
			}
		})
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		raw, currency string
		want          int64
	}{
		{"49.00", "USD", 4900}, {"$1,049.00", "USD", 104900}, {"1.234,56", "EUR", 123456}, {"12,5", "EUR", 1250},
		{"12.30 USD", "USD", 1230}, {"(1.50)", "USD", -150}, {"-1.50", "USD", -150}, {"7.781", "USD", 778},
		{"7.785", "USD", 779}, {"-7.785", "USD", -779}, {"1200", "JPY", 1200}, {"1200.5", "JPY", 1201},
		{"1,234", "USD", 123400}, {"£3.20", "GBP", 320}, {"0.1234", "BHD", 123},
	}
	for _, tt := range tests {
		if got, err := ParseAmount(tt.raw, tt.currency); err != nil || got != tt.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tt.raw, tt.currency, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "abc", "1.2.3,4,5", "--1", "(-1)", "1e5", "99999999999999999999"} {
		if _, err := ParseAmount(bad, "USD"); err == nil {
			t.Errorf("ParseAmount(%q) accepted", bad)
		}
	}
}

// TestRefusals: every bad file or mapping is a clear 4xx naming what to fix.
func TestRefusals(t *testing.T) {
	impact, _ := Lookup("impact", nil)
	awin, _ := Lookup("awin", nil)
	own, _ := Lookup("", nil) // linkcredit's own order_id,commission,status[,currency]
	tests := []struct {
		name   string
		f      Format
		body   string
		cur    string
		status int
		code   string
	}{
		{"no order column", awin, "commission,commission_status\n1.00,pending\n", "GBP", 400, "malformed_csv"},
		{"no status column", awin, "id,commission\n1,1.00\n", "GBP", 400, "malformed_csv"},
		{"no currency", awin, "id,commission,commission_status\n1,1.00,pending\n", "", 422, "currency_required"},
		{"unknown status", awin, "id,commission,commission_status\n1,1.00,maybe\n", "GBP", 422, "invalid_settlement"},
		{"negative", awin, "id,commission,commission_status\n1,-1.00,pending\n", "GBP", 422, "invalid_settlement"},
		{"bad date", impact, "Action Id,Payout,Action Date\n1,1.00,31/31/2026\n", "USD", 422, "invalid_settlement"},
		{"empty", impact, "Action Id,Payout\n", "USD", 422, "empty_settlement"},
		{"not csv", impact, "Action Id,Payout\n\"1,1.00\n", "USD", 400, "malformed_csv"},
		{"own: no header", own, "", "USD", 400, "malformed_csv"},
		{"own: no commission column", own, "order_id,status\nA-1,paid\n", "USD", 400, "malformed_csv"},
		{"own: no currency", own, "order_id,commission,status\nA-1,1.00,paid\n", "", 422, "currency_required"},
		{"own: unknown status", own, "order_id,commission,status\nA-1,1.00,maybe\n", "USD", 422, "invalid_settlement"},
		{"own: negative", own, "order_id,commission,status\nA-1,-1.00,paid\n", "USD", 422, "invalid_settlement"},
		{"own: no order id", own, "order_id,commission,status\n,1.00,paid\n", "USD", 422, "invalid_settlement"},
		{"own: bad currency", own, "order_id,commission,status,currency\nA-1,1.00,paid,dollars\n", "", 422, "invalid_settlement"},
		{"own: no lines", own, "order_id,commission,status\n", "USD", 422, "empty_settlement"},
		{"own: unbalanced quote", own, "order_id,commission,status\n\"A-1,1.00,paid\n", "USD", 400, "malformed_csv"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.f, []byte(tt.body), tt.cur)
		if code, _ := errs.Public(err); errs.HTTPStatus(err) != tt.status || code != tt.code {
			t.Errorf("%s: %v (%d %s), want %d %s", tt.name, err, errs.HTTPStatus(err), code, tt.status, tt.code)
		}
	}
	for name, q := range map[string]url.Values{
		"generic without columns": {},
		"bad date format":         {"order_id_column": {"a"}, "commission_column": {"b"}, "status_column": {"c"}, "date_format": {"xx"}},
		"bad status map":          {"order_id_column": {"a"}, "commission_column": {"b"}, "status_column": {"c"}, "status_map": {"ok:paid"}},
	} {
		if _, err := Lookup("generic", q); errs.HTTPStatus(err) != 422 {
			t.Errorf("%s: %v, want 422", name, err)
		}
	}
	if _, err := Lookup("shareasale", nil); errs.HTTPStatus(err) != 400 {
		t.Errorf("unknown format: %v, want 400", err)
	}
}

// TestOwnFormat: linkcredit's own CSV (no format=), as finance writes it
// by hand or a spreadsheet saves it: a byte-order mark, headers in any
// case and order with spaces, extra columns, partners' status words, the
// currency per line in any case.
func TestOwnFormat(t *testing.T) {
	own, err := Lookup("", nil)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := Parse(own, []byte("\ufeffOrder_ID, Commission ,STATUS,Currency,Note\nA-1,7.35,Paid,usd,x\nA-2,1200,declined,JPY\n,,,,\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []payout.Line{{Line: 2, OrderID: "A-1", Commission: 735, Currency: "USD", Status: "approved"},
		{Line: 3, OrderID: "A-2", Commission: 1200, Currency: "JPY", Status: "reversed"}}
	if !slices.Equal(lines, want) {
		t.Fatalf("lines = %+v, want %+v", lines, want)
	}
}

// An ISO date-time's offset must be one RFC 3339 allows: the time package
// also takes +24:00 and a minute of 60, which move the line by a day.
func TestParseDateOffsets(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // UTC, or "" for refused
	}{
		{"2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"},
		{"2026-11-20T10:00:00+05:45", "2026-11-20T04:15:00Z"},
		{"2026-11-20T10:00:00.25-09:30", "2026-11-20T19:30:00.25Z"},
		{"2026-11-20", "2026-11-20T00:00:00Z"},
		{"2026-11-20T10:00:00+24:00", ""},
		{"2026-11-20T10:00:00+01:60", ""},
	} {
		got, err := ParseDate(tt.in, isoLayouts)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseDate(%q) = %s, want refused", tt.in, got.Format(time.RFC3339Nano))
		case tt.want != "" && (err != nil || got.Format(time.RFC3339Nano) != tt.want):
			t.Errorf("ParseDate(%q) = %s, %v, want %s", tt.in, got.Format(time.RFC3339Nano), err, tt.want)
		}
	}
}
