package report

import "math/big"

// Row is one line of the commission report. Money is in minor units of
// Currency; Keys line up with the query's GroupBy.
type Row struct {
	Keys     []string
	Currency string

	Clicks, UniqueClicks, BotClicks int64
	Conversions, Direct, CrossSell  int64
	Sale, Pending, Approved         int64
	Reversed, Paid                  int64
}

// AddMoney adds r's conversion figures (not its clicks) to those of o.
func (o *Row) AddMoney(r Row) {
	o.Conversions += r.Conversions
	o.Direct += r.Direct
	o.CrossSell += r.CrossSell
	o.Sale += r.Sale
	o.Pending += r.Pending
	o.Approved += r.Approved
	o.Reversed += r.Reversed
	o.Paid += r.Paid
}

// EPC is approved and paid commission per human click, rounded half away
// from zero to the currency's minor unit; false when there were no clicks.
func (o Row) EPC() (int64, bool) {
	if o.Clicks == 0 {
		return 0, false
	}
	return roundRat(new(big.Rat).SetFrac64(o.Approved+o.Paid, o.Clicks)), true
}

// roundRat rounds x half away from zero.
func roundRat(x *big.Rat) int64 {
	num, den := new(big.Int).Set(x.Num()), x.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return q.Int64()
}
