// Package payout is the vocabulary of money between partners and the
// catalog: remittances, statements, reconciliation lines, settlement
// lines (internal/settlementfile reads them from CSV) and their differences
// from the ledger. It computes nothing against the ledger; the store does.
package payout

import "time"

// Line is one settlement line with its commission in minor units: the
// (order, status, commission, currency, date) a dry run compares with the
// ledger and an apply will turn into ledger events.
type Line struct {
	Line       int // 1-based, the header being line 1
	OrderID    string
	Commission int64
	Currency   string
	Status     string    // pending, approved or reversed
	Date       time.Time // when the export dates the line (UTC); zero when it has none
}

// MaxLines bounds one report.
const MaxLines = 200000
