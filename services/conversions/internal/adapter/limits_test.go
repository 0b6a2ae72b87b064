package adapter

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// checkAccepted fails t unless c is within every limit an event has.
func checkAccepted(t *testing.T, c Conversion, p Partner) {
	t.Helper()
	if c.OrderID == "" || !events.ValidStatus(c.Status) {
		t.Fatalf("accepted an incomplete conversion %+v", c)
	}
	for _, v := range []string{c.OrderID, c.ClickID, c.CourseID, c.RawStatus, c.ReasonCode, c.EventID} {
		if len(v) > events.MaxPartnerValueBytes || !utf8.ValidString(v) {
			t.Fatalf("accepted %q: %d bytes, valid UTF-8 %v", v, len(v), utf8.ValidString(v))
		}
	}
	for _, a := range []money.Amount{c.SaleAmount, c.Commission} {
		if a.IsNegative() || a.Minor > p.ceiling(a.Currency) || a.Minor > events.MaxAmountMinor || !money.IsCurrency(a.Currency) {
			t.Fatalf("accepted the amount %+v (ceiling %d)", a, p.ceiling(a.Currency))
		}
	}
}

// wantRefusal checks err is a 422 with code whose first field is field.
func wantRefusal(t *testing.T, err error, code, field string) {
	t.Helper()
	gotCode, msg := errs.Public(err)
	if errs.HTTPStatus(err) != 422 || gotCode != code {
		t.Fatalf("err = %v (%d %s), want 422 %s", err, errs.HTTPStatus(err), gotCode, code)
	}
	if fields := errs.FieldsOf(err); len(fields) == 0 || fields[0].Field != field {
		t.Fatalf("fields %v, want %s first", fields, field)
	}
	if len(msg) > 600 {
		t.Fatalf("the message repeats too much of the value: %d bytes", len(msg))
	}
}

// TestPartnerValueLengths: every value a partner names is accepted at
// events.MaxPartnerValueBytes and refused one byte over, in a webhook and
// in each preset's postback, naming the partner's own parameter.
func TestPartnerValueLengths(t *testing.T) {
	atLimit := strings.Repeat("é", events.MaxPartnerValueBytes/2) // 128 bytes of UTF-8, 64 characters
	over := atLimit + "x"
	fields := []string{FieldOrderID, FieldClickID, FieldCourseID, FieldEventID, FieldReasonCode, FieldStatus}
	for _, preset := range append([]string{"webhook"}, Presets()...) {
		// The partner knows a status word as long as any may be.
		mp := Mapping{Preset: preset, Statuses: map[string]string{atLimit: events.StatusApproved}}
		if preset == "webhook" {
			mp.Preset = "standard"
		}
		m, err := mp.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		// The partner's own long word is known to every preset's statuses.
		valid := map[string]string{FieldOrderID: "A-1", FieldStatus: atLimit, FieldSaleAmount: "49.00", FieldCommission: "7.35",
			FieldOccurredAt: "2026-11-20T10:00:00Z"}
		if m.MinorUnits {
			valid[FieldSaleAmount], valid[FieldCommission] = "4900", "735"
		}
		decode := func(values map[string]string) (Conversion, error) {
			if preset == "webhook" {
				b, _ := json.Marshal(values)
				return m.DecodeWebhook(b, usd, now)
			}
			params := url.Values{}
			for f, v := range values {
				params.Set(m.name(f), v)
			}
			return m.FromParams(params, usd, now)
		}
		for _, field := range fields {
			if preset != "webhook" && m.Fields[field] == "" {
				continue // this network has no such parameter
			}
			for _, tt := range []struct {
				name, value string
				ok          bool
			}{{"128 bytes", atLimit, true}, {"129 bytes", over, false}, {"129 bytes of ASCII", strings.Repeat("a", 129), false}} {
				t.Run(preset+"/"+field+"/"+tt.name, func(t *testing.T) {
					values := map[string]string{}
					for k, v := range valid {
						values[k] = v
					}
					values[field] = tt.value
					c, err := decode(values)
					if tt.ok {
						if err != nil {
							t.Fatal(err)
						}
						checkAccepted(t, c, usd)
						return
					}
					wantRefusal(t, err, "field_too_long", m.name(field))
				})
			}
		}
	}
}

func TestAmountCeiling(t *testing.T) {
	jpy := Partner{Currency: "JPY"}
	custom := Partner{Currency: "USD", MaxAmount: money.Amount{Minor: 50000, Currency: "USD"}}
	beyondSchema := Partner{Currency: "USD", MaxAmount: money.Amount{Minor: events.MaxAmountMinor * 10, Currency: "USD"}}
	tests := []struct {
		name     string
		p        Partner
		currency string // "" the partner's
		amount   string
		code     string // "" accepted
	}{
		{"default exactly", usd, "", "1000000.00", ""},
		{"default and a cent", usd, "", "1000000.01", "amount_too_large"},
		{"default, trailing zeros", usd, "", "1000000.0000", ""},
		{"near int64", usd, "", "92233720368547758.07", "amount_too_large"},
		{"past int64", usd, "", "92233720368547758.08", "amount_too_large"},
		{"a hundred digits", usd, "", strings.Repeat("9", 100), "amount_too_large"},
		{"zero", usd, "", "0.00", ""},
		{"negative", usd, "", "-1.00", "invalid_value"},
		{"near int64 negative", usd, "", "-92233720368547758.08", "invalid_value"},
		{"custom exactly", custom, "", "500.00", ""},
		{"custom and a cent", custom, "", "500.01", "amount_too_large"},
		{"JPY default exactly", jpy, "", "1000000", ""},
		{"JPY default and a yen", jpy, "", "1000001", "amount_too_large"},
		// Another currency: the partner's max_amount is in its own, so
		// only the schema's ceiling holds (an ordinary IDR sale was
		// refused under a USD partner's cap taken in minor units).
		{"an ordinary IDR sale of a USD partner", usd, "IDR", "1500000.00", ""},
		{"USD partner, the schema's ceiling in JPY", usd, "JPY", "1000000000000", ""},
		{"USD partner, the schema's ceiling in JPY and a yen", usd, "JPY", "1000000000001", "amount_too_large"},
		{"USD partner, the schema's ceiling in KWD", usd, "KWD", "1000000000.000", ""},
		{"USD partner, the schema's ceiling in KWD and a fils", usd, "KWD", "1000000000.001", "amount_too_large"},
		{"a custom USD cap does not hold EUR", custom, "EUR", "50000.00", ""},
		{"JPY partner in USD", jpy, "USD", "10000000000.00", ""},
		{"JPY partner in USD, past the schema's ceiling", jpy, "USD", "10000000000.01", "amount_too_large"},
		// A max_amount beyond the schema's ceiling is held to it.
		{"schema ceiling", beyondSchema, "", "10000000000.00", ""},
		{"schema ceiling and a cent", beyondSchema, "", "10000000000.01", "amount_too_large"},
	}
	m := standard(t)
	for _, tt := range tests {
		for _, field := range []string{FieldSaleAmount, FieldCommission} {
			t.Run(tt.name+"/"+field, func(t *testing.T) {
				params := url.Values{FieldOrderID: {"A-1"}, FieldStatus: {"approved"}, FieldSaleAmount: {"1.00"}, FieldCommission: {"1.00"}}
				if tt.currency != "" {
					params.Set(FieldCurrency, tt.currency)
					params.Set(FieldSaleAmount, "1")
					params.Set(FieldCommission, "1")
				}
				params.Set(field, tt.amount)
				c, err := m.FromParams(params, tt.p, now)
				if tt.code == "" {
					if err != nil {
						t.Fatal(err)
					}
					checkAccepted(t, c, tt.p)
					return
				}
				wantRefusal(t, err, tt.code, field)
			})
		}
	}
}

// TestRefusalOrder: a missing field outranks a long one, a long one any
// other bad value, and a bad value an amount too large.
func TestRefusalOrder(t *testing.T) {
	m := standard(t)
	long := strings.Repeat("x", 129)
	tests := []struct {
		query  string
		status int
		code   string
	}{
		{"order_id=" + long + "&status=approved&commission=1.00", 400, "missing_field"},
		{"order_id=" + long + "&status=nope&sale_amount=x&commission=1.00", 422, "field_too_long"},
		{"order_id=A&status=nope&sale_amount=1000000.01&commission=1.00", 422, "invalid_value"},
		{"order_id=A&status=approved&sale_amount=1000000.01&commission=1.00&occurred_at=2026-02-30", 422, "invalid_value"},
		{"order_id=A&status=approved&sale_amount=1000000.01&commission=1000000.02", 422, "amount_too_large"},
	}
	for _, tt := range tests {
		params, _ := url.ParseQuery(tt.query)
		_, err := m.FromParams(params, usd, now)
		if code, _ := errs.Public(err); errs.HTTPStatus(err) != tt.status || code != tt.code {
			t.Errorf("%.60s: %d %s (%v), want %d %s", tt.query, errs.HTTPStatus(err), code, err, tt.status, tt.code)
		}
	}
}

func TestCurrencyIsISO4217(t *testing.T) {
	m := standard(t)
	for _, tt := range []struct {
		currency string
		ok       bool
	}{{"USD", true}, {"usd", true}, {"BHD", true}, {"XYZ", false}, {"US", false}, {"USDD", false}, {"", true}, {"€", false},
		{strings.Repeat("U", 10000), false}} {
		params := url.Values{FieldOrderID: {"A"}, FieldStatus: {"approved"}, FieldSaleAmount: {"1"}, FieldCommission: {"1"}}
		if tt.currency != "" {
			params.Set(FieldCurrency, tt.currency)
		}
		t.Run(fmt.Sprintf("%.8s", tt.currency), func(t *testing.T) {
			_, err := m.FromParams(params, usd, now)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantRefusal(t, err, "invalid_value", FieldCurrency)
		})
	}
}

func TestParseMaxAmount(t *testing.T) {
	tests := []struct {
		raw, currency string
		minor         int64 // 0: refused
	}{
		{"1000000.00", "USD", 100_000_000},
		{"1000000", "USD", 100_000_000},
		{"0.01", "USD", 1},
		{"1000000.00", "JPY", 1_000_000},
		{"1000000.000", "BHD", 1_000_000_000},
		{"10000000000.00", "USD", events.MaxAmountMinor},
		{"10000000000.01", "USD", 0},
		{"1000000000000", "JPY", events.MaxAmountMinor},
		{"1000000000001", "JPY", 0},
		{"92233720368547758.07", "USD", 0},
		{"99999999999999999999999", "USD", 0},
		{"0", "USD", 0},
		{"0.00", "USD", 0},
		{"-5.00", "USD", 0},
		{"1.001", "USD", 0},
		{"1e6", "USD", 0},
		{"", "USD", 0},
		{"1,000,000", "USD", 0},
		{"10", "XYZ", 0},
	}
	for _, tt := range tests {
		a, err := ParseMaxAmount(tt.raw, tt.currency)
		if tt.minor == 0 {
			if err == nil {
				t.Errorf("%q %s: accepted %+v", tt.raw, tt.currency, a)
			}
			continue
		}
		if err != nil || a.Minor != tt.minor || a.Currency != tt.currency {
			t.Errorf("%q %s = %+v, %v; want %d", tt.raw, tt.currency, a, err, tt.minor)
		}
	}
	for _, cur := range []string{"USD", "JPY", "BHD", "CLF"} {
		d := DefaultMaxAmount(cur)
		if back, err := ParseMaxAmount(d.String(), cur); err != nil || back != d || d.Minor > events.MaxAmountMinor {
			t.Errorf("default %s %s: %+v, %v", d, cur, back, err)
		}
	}
	if d := DefaultMaxAmount("USD"); d.String() != "1000000.00" {
		t.Errorf("default in USD is %s, the contract says 1000000.00", d)
	}
}

func FuzzParseMaxAmount(f *testing.F) {
	for _, s := range []string{"1000000.00", "0.01", "10000000000.01", "92233720368547758.07", "-0", "1.0000000", "00001.50"} {
		f.Add(s, "USD")
	}
	f.Add("1000000", "JPY")
	f.Add("1.000", "BHD")
	f.Fuzz(func(t *testing.T, raw, currency string) {
		a, err := ParseMaxAmount(raw, currency)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Fatalf("the error repeats too much of the value: %d bytes", len(err.Error()))
			}
			return
		}
		if a.Minor <= 0 || a.Minor > events.MaxAmountMinor || a.Currency != currency {
			t.Fatalf("%q %q accepted as %+v", raw, currency, a)
		}
		// What GET shows is what PUT accepts, the same amount.
		if back, err := ParseMaxAmount(a.String(), currency); err != nil || back != a {
			t.Fatalf("%q -> %s -> %+v, %v", raw, a, back, err)
		}
	})
}
