package report

import (
	"math/big"
	"sort"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

// Rate is an exchange rate from its Date until the next one: one Base is
// worth Rate of Quote.
type Rate struct {
	Date  string // YYYY-MM-DD
	Base  string
	Quote string
	Rate  string // a positive decimal
}

// MinRateYear is the earliest year a rate may be dated in.
const MinRateYear = 1900

// RateFilter picks stored rates: into or out of Currency, dated from From
// to To (YYYY-MM-DD, both included); an empty field picks all.
type RateFilter struct{ Currency, From, To string }

// ParseRate checks a rate's fields and returns its exact value.
func ParseRate(r Rate) (*big.Rat, error) {
	var f errs.Fields
	if d, err := time.Parse(time.DateOnly, r.Date); err != nil {
		f.Add("date", "%q is not a date (YYYY-MM-DD)", r.Date)
	} else if d.Year() < MinRateYear || d.Year() > 2099 {
		// Purchases are in 2000..2099 (events.InYears); a rate may be
		// dated before them, to hold from then. Year 0000 was a database
		// error.
		f.Add("date", "%q is outside the years %d to 2099", r.Date, MinRateYear)
	}
	if !money.IsCurrency(r.Base) {
		f.Add("base", "%q is not an ISO 4217 currency code", r.Base)
	}
	if !money.IsCurrency(r.Quote) {
		f.Add("quote", "%q is not an ISO 4217 currency code", r.Quote)
	}
	if r.Base == r.Quote && r.Base != "" {
		f.Add("quote", "base and quote are both %s", r.Base)
	}
	// The grammar (with its 40 characters) before big.Rat reads it:
	// SetString also takes exponents, and spent about 30 ms of CPU on
	// "1e999999" before the refusal (a fuzz check), per row of an 8 MiB
	// upload.
	var v *big.Rat
	if decimal(r.Rate) {
		v, _ = new(big.Rat).SetString(r.Rate)
	}
	if v == nil || v.Sign() <= 0 {
		f.Add("rate", "%q is not a positive decimal number of at most 40 characters", r.Rate)
	}
	return v, f.Err("invalid_rate")
}

func decimal(s string) bool {
	dot := false
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && len(s) <= 40
}

type datedRate struct {
	date string
	rate *big.Rat
}

// Converter converts amounts at the rate in force on a date.
type Converter struct {
	to    string
	rates map[[2]string][]datedRate // sorted by date
}

// NewConverter returns a converter into currency to from the given rates.
func NewConverter(to string, rates []Rate) (*Converter, error) {
	c := &Converter{to: to, rates: map[[2]string][]datedRate{}}
	for _, r := range rates {
		v, err := ParseRate(r)
		if err != nil {
			return nil, err
		}
		k := [2]string{r.Base, r.Quote}
		c.rates[k] = append(c.rates[k], datedRate{r.Date, v})
	}
	for _, list := range c.rates {
		sort.Slice(list, func(i, j int) bool { return list[i].date < list[j].date })
	}
	return c, nil
}

// rate finds the rate from one unit of from into c.to on date: a direct
// quote in force then, else the inverse of the reverse quote.
func (c *Converter) rate(from, date string) (*big.Rat, bool) {
	if from == c.to {
		return big.NewRat(1, 1), true
	}
	if r, ok := inForce(c.rates[[2]string{from, c.to}], date); ok {
		return r, true
	}
	if r, ok := inForce(c.rates[[2]string{c.to, from}], date); ok {
		return new(big.Rat).Inv(r), true
	}
	return nil, false
}

func inForce(list []datedRate, date string) (*big.Rat, bool) {
	i := sort.Search(len(list), func(i int) bool { return list[i].date > date })
	if i == 0 {
		return nil, false
	}
	return list[i-1].rate, true
}

// Convert converts r's money, all of it from purchases on date, into the
// converter's currency, rounding each amount half away from zero. The
// result is exact however large: a large amount at a large rate can be
// beyond int64.
func (c *Converter) Convert(r Row, date string) (Row, error) {
	if r.Currency == "" || r.Currency == c.to {
		r.Currency = c.to
		return r, nil
	}
	rate, ok := c.rate(r.Currency, date)
	if !ok {
		return r, errs.Newf(errs.Unprocessable, "missing_fx_rate",
			"no %s/%s exchange rate is known for %s: PUT /v1/fx-rates with a rate dated on or before it (if %s is closed, a rate dated in it needs the month reopened first: PUT /v1/periods/%s with {\"status\":\"open\"})",
			r.Currency, c.to, date, monthOf(date), monthOf(date))
	}
	from, _ := money.LookupCurrency(r.Currency)
	to, _ := money.LookupCurrency(c.to)
	scale := new(big.Rat).Set(rate)
	if d := to.Exponent - from.Exponent; d > 0 {
		scale.Mul(scale, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)))
	} else if d < 0 {
		scale.Quo(scale, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-d)), nil)))
	}
	conv := func(m minor.Sum) minor.Sum { return minor.Round(new(big.Rat).Mul(m.Rat(), scale)) }
	r.Sale, r.Pending, r.Approved = conv(r.Sale), conv(r.Pending), conv(r.Approved)
	r.Reversed, r.Paid = conv(r.Reversed), conv(r.Paid)
	r.Currency = c.to
	return r, nil
}

// monthOf is the YYYY-MM of a YYYY-MM-DD date.
func monthOf(date string) string {
	if len(date) >= 7 {
		return date[:7]
	}
	return date
}
