package report

import (
	"maps"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

// FuzzParseQuery: any query string gives a query or a 422, never a panic,
// and a valid query always has to after from.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "from=2026-11-01&to=2026-12-01&group_by=partner,day&tz=Europe/Berlin&currency=EUR&format=csv",
		"tz=America/St_Johns", "group_by=,,", "from=0000-01-01", "to=9999-12-31", "tz=Local", "tz=UTC&from=2026-03-29",
		"tz=Asia/Kolkata&from=1900-01-01&to=1990-01-01", "tz=Asia/Kathmandu", "tz=Pacific/Chatham&from=2026-04-05&to=2026-04-06"} {
		f.Add(s)
	}
	f.Add("from=0171-10-12&tz&00000000000000000&tz=0000000000000000000000000000000000") // found by fuzzing: tz given twice
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, "", now)
		if err != nil {
			// 422 for a value, 400 repeated_parameter for a parameter
			// given twice with different values (httpx.RepeatedParameter).
			if code, _ := errs.Public(err); errs.HTTPStatus(err) != 422 && !(errs.HTTPStatus(err) == 400 && code == "repeated_parameter") {
				t.Fatalf("status %d (%s) for %q: %v", errs.HTTPStatus(err), code, raw, err)
			}
			return
		}
		if !q.To.After(q.From) {
			t.Fatalf("%q: to %v not after from %v", raw, q.To, q.From)
		}
		// Every accepted day starts on a quarter-hour: the rollups cut it.
		for d := q.From; d.Before(q.To) && d.Before(q.From.AddDate(0, 0, 400)); d = d.AddDate(0, 0, 1) {
			if d.UTC().Truncate(15*time.Minute) != d.UTC() {
				t.Fatalf("%q: accepted a day starting at %v", raw, d)
			}
		}
	})
}

var (
	rateDateRE = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})$`)
	rateRE     = regexp.MustCompile(`^([0-9]+\.?[0-9]*|\.[0-9]+)$`)
)

// refRate is ParseRate written from the Rate type's comments and the
// contract: Date a real YYYY-MM-DD day, Base and Quote two different ISO
// 4217 codes, Rate a positive decimal (digits with at most one '.', at
// most 40 bytes). It returns the fields it finds wrong and the exact
// value (digits over a power of ten, by math/big).
func refRate(r Rate) (bad map[string]bool, v *big.Rat) {
	bad = map[string]bool{}
	if m := rateDateRE.FindStringSubmatch(r.Date); m == nil {
		bad["date"] = true
	} else {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		if mo < 1 || mo > 12 || d < 1 || time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() != d || y < MinRateYear || y > 2099 {
			bad["date"] = true
		}
	}
	if !money.IsCurrency(r.Base) {
		bad["base"] = true
	}
	if !money.IsCurrency(r.Quote) || r.Base == r.Quote {
		bad["quote"] = true
	}
	if !rateRE.MatchString(r.Rate) || len(r.Rate) > 40 {
		bad["rate"] = true
		return bad, nil
	}
	whole, frac, _ := strings.Cut(r.Rate, ".")
	num, _ := new(big.Int).SetString("0"+whole+frac, 10)
	v = new(big.Rat).SetFrac(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
	if v.Sign() <= 0 {
		bad["rate"] = true
	}
	return bad, v
}

// FuzzParseRate holds ParseRate to refRate: it accepts a rate exactly
// when refRate finds nothing wrong, with refRate's exact value; a refusal
// is a 422 invalid_rate naming exactly the wrong fields. An accepted rate
// written canonically (no leading or trailing zeros) reads back as the
// same value, as GET /v1/fx-rates and a PUT of it must agree.
func FuzzParseRate(f *testing.F) {
	f.Add("2026-11-01", "EUR", "USD", "1.0832")
	f.Add("2026-11-01", "USD", "JPY", "150")
	f.Add("2028-02-29", "USD", "BHD", ".5")
	f.Add("2026-02-29", "EUR", "EUR", "5.")
	f.Add("2026-11-1", "eur", "", "0.000")
	f.Add("2026-11-01", "EUR", "USD", "1e3")
	f.Add("0000-01-01", "JPY", "USD", "00000000000000000000000000000000000001.0")
	f.Add("2026-11-01", "EUR", "USD", "+1")
	f.Add("2026-11-01", "EUR", "USD", "١")
	f.Fuzz(func(t *testing.T, date, base, quote, rate string) {
		r := Rate{date, base, quote, rate}
		v, err := ParseRate(r)
		bad, want := refRate(r)
		if len(bad) == 0 {
			if err != nil || v.Cmp(want) != 0 {
				t.Fatalf("ParseRate(%+v) = %v, %v; want %v", r, v, err, want)
			}
			canon := want.FloatString(decimals(want))
			if strings.Contains(canon, ".") {
				canon = strings.TrimRight(strings.TrimRight(canon, "0"), ".")
			}
			if back, err := ParseRate(Rate{date, base, quote, canon}); err != nil || back.Cmp(v) != 0 {
				t.Fatalf("ParseRate(%+v) = %v, written %q reads %v, %v", r, v, canon, back, err)
			}
			return
		}
		if code, _ := errs.Public(err); err == nil || code != "invalid_rate" || errs.HTTPStatus(err) != 422 {
			t.Fatalf("ParseRate(%+v) = %v, %v; want a 422 invalid_rate for %v", r, v, err, bad)
		}
		named := map[string]bool{}
		for _, fe := range errs.FieldsOf(err) {
			named[fe.Field] = true
		}
		if !maps.Equal(named, bad) {
			t.Fatalf("ParseRate(%+v) names %v, want %v", r, named, bad)
		}
	})
}

// decimals is how many fraction digits x, a decimal, has: the least k
// with 10^k a multiple of its denominator.
func decimals(x *big.Rat) int {
	k := 0
	for new(big.Int).Rem(testkit.Pow10(k), x.Denom()).Sign() != 0 {
		k++
	}
	return k
}

// FuzzConvert holds Converter.Convert to math/big: an amount of m minor
// units of from, at the rate r in force on its date (or 1/r from the
// reverse quote), is m * r * 10^(exp(to) - exp(from)) minor units of to,
// rounded half away from zero; before the first rate's date it is a 422
// missing_fx_rate, and a rate holds until the next one.
func FuzzConvert(f *testing.F) {
	f.Add("EUR", "USD", "1.0832", "2", int64(4999), false, uint8(1))
	f.Add("JPY", "BHD", "0.0025", "0.0026", int64(-123457), true, uint8(2))
	f.Add("BHD", "JPY", "400.5", "401", int64(9223372036854775807), false, uint8(0))
	f.Add("USD", "CLF", "0.000031", "3", int64(-5), true, uint8(1))
	f.Fuzz(func(t *testing.T, from, to, rate1, rate2 string, m int64, reverse bool, day uint8) {
		if !money.IsCurrency(from) || !money.IsCurrency(to) || from == to {
			return
		}
		base, quote := from, to
		if reverse {
			base, quote = to, from
		}
		rates := []Rate{{"2026-11-10", base, quote, rate2}, {"2026-11-01", base, quote, rate1}}
		c, err := NewConverter(to, rates)
		if err != nil {
			return
		}
		date := []string{"2026-10-31", "2026-11-05", "2026-11-10", "2026-12-01"}[day%4]
		got, err := c.Convert(Row{Currency: from, Sale: minor.Of(m), Approved: minor.Of(-m), Paid: minor.Of(m / 3)}, date)
		if date < "2026-11-01" {
			if code, _ := errs.Public(err); code != "missing_fx_rate" || errs.HTTPStatus(err) != 422 {
				t.Fatalf("%s before the first rate: %v", date, err)
			}
			return
		}
		rs := rate1
		if date >= "2026-11-10" {
			rs = rate2
		}
		r, _ := new(big.Rat).SetString(rs)
		if reverse {
			r.Inv(r)
		}
		fe, te := exponentOf(from), exponentOf(to)
		scale := new(big.Rat).Mul(r, new(big.Rat).SetFrac(testkit.Pow10(te), testkit.Pow10(fe)))
		for _, x := range []struct {
			name string
			m    int64
			got  minor.Sum
		}{{"sale", m, got.Sale}, {"approved", -m, got.Approved}, {"paid", m / 3, got.Paid}} {
			want := testkit.RoundHalfAway(new(big.Rat).Mul(new(big.Rat).SetInt64(x.m), scale))
			if err != nil || got.Currency != to || x.got.Big().Cmp(want) != 0 {
				t.Fatalf("%s %d %s at %s on %s = %s %s, %v; want %s", x.name, x.m, from, rs, date, x.got, got.Currency, err, want)
			}
		}
	})
}

func exponentOf(code string) int {
	c, _ := money.LookupCurrency(code)
	return c.Exponent
}

func FuzzSafeCell(f *testing.F) {
	for _, s := range []string{"=1+1", "-7.35", "@x", "plain", "\t=1", " =1+1", "  ", "\n=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SafeCell(s)
		formula := func(c string) bool {
			c = strings.TrimLeft(c, " ")
			return c != "" && strings.ContainsRune("=+-@\t\r\n", rune(c[0]))
		}
		if formula(out) {
			t.Fatalf("SafeCell(%q) = %q starts a formula", s, out)
		}
		// Nothing else changes: a safe cell is as it was, a neutralised
		// one is the same text after one quote.
		if want := map[bool]string{false: s, true: "'" + s}[formula(s)]; out != want {
			t.Fatalf("SafeCell(%q) = %q, want %q", s, out, want)
		}
	})
}
