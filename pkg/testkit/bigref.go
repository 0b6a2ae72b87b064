package testkit

import "math/big"

// Pow10 is 10ⁿ, for reference implementations that check money
// arithmetic in arbitrary precision.
func Pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// RoundHalfAway rounds x to an integer, half away from zero, by comparing
// twice the remainder with the denominator: the reference for the
// services' own rounding of amounts.
func RoundHalfAway(x *big.Rat) *big.Int {
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	if new(big.Int).Abs(new(big.Int).Lsh(r, 1)).Cmp(x.Denom()) >= 0 {
		q.Add(q, big.NewInt(int64(x.Num().Sign())))
	}
	return q
}
