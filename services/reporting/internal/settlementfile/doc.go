// Package settlementfile reads settlement and transaction files as the
// networks export them (impact.com's action listings, Awin's transactions
// report, CJ's commission detail) or as any other network does, through a
// column mapping given on upload, into payout.Line rows: order id, status,
// commission in minor units, currency and date. That list is the shape a
// dry run compares with the ledger and an apply will turn into ledger
// events. It reads; it compares and applies nothing.
//
// The column sets, status words, date and amount formats of each export
// are cited in testdata/README.md.
package settlementfile
