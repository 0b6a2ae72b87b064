package postgres

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// A cell whose sum would not fit in an int64 gets another delta row, and
// the rows still add up to the exact total.
func TestRollupDeltasNeverWrap(t *testing.T) {
	t.Parallel()
	cell := rollupCell{time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), ledger.RollupKey{Partner: "p", Currency: "USD"}}
	other := rollupCell{cell.bucket, ledger.RollupKey{Partner: "q", Currency: "USD"}}
	var d rollupDeltas
	big3 := ledger.Contribution{Conversions: 1, Approved: math.MaxInt64 / 2}
	for range 3 {
		d.add(cell, big3)
	}
	d.add(other, ledger.Contribution{Conversions: 1, Pending: 5})
	d.add(other, ledger.Contribution{Conversions: -1, Pending: -5}) // cancels: no row
	rows := d.rows()
	total, n := new(big.Int), 0
	for _, r := range rows {
		if r.cell != cell {
			t.Fatalf("a row for %v, which sums to zero", r.cell)
		}
		total.Add(total, big.NewInt(r.d.Approved))
		n += int(r.d.Conversions)
	}
	want := new(big.Int).Mul(big.NewInt(math.MaxInt64/2), big.NewInt(3))
	if len(rows) != 2 || total.Cmp(want) != 0 || n != 3 {
		t.Fatalf("%d rows summing to %s (%d conversions), want 2 rows, %s, 3", len(rows), total, n, want)
	}
}
