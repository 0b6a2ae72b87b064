package report

import (
	"math/big"

	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

// Row is one line of the commission report. Money is in minor units of
// Currency, exact whatever its size (a sum of many conversions, or one
// converted at a large rate, can be beyond int64); Keys line up with the
// query's GroupBy. Counts are int64: one per event, they cannot reach
// its limit.
type Row struct {
	Keys     []string
	Currency string

	Clicks, UniqueClicks, BotClicks int64
	Conversions, Direct, CrossSell  int64
	Sale, Pending, Approved         minor.Sum
	Reversed, Paid                  minor.Sum
}

// AddMoney adds r's conversion figures (not its clicks) to those of o.
func (o *Row) AddMoney(r Row) {
	o.Conversions += r.Conversions
	o.Direct += r.Direct
	o.CrossSell += r.CrossSell
	o.Sale = o.Sale.Add(r.Sale)
	o.Pending = o.Pending.Add(r.Pending)
	o.Approved = o.Approved.Add(r.Approved)
	o.Reversed = o.Reversed.Add(r.Reversed)
	o.Paid = o.Paid.Add(r.Paid)
}

// Earned is approved and paid commission.
func (o Row) Earned() minor.Sum { return o.Approved.Add(o.Paid) }

// EPC is approved and paid commission per human click, rounded half away
// from zero to the currency's minor unit; false when there were no clicks.
func (o Row) EPC() (minor.Sum, bool) {
	if o.Clicks == 0 {
		return minor.Sum{}, false
	}
	return minor.Round(new(big.Rat).Quo(o.Earned().Rat(), new(big.Rat).SetInt64(o.Clicks))), true
}
