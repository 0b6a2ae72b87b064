// Package minor is reporting's exact arithmetic on totals of money in
// minor units: what a report, a statement, a reconciliation or a chart
// adds up. A Sum is an int64 while it fits and a big integer beyond, so a
// total never wraps and never fails, whatever the volume; the common case
// costs what an int64 costs. It reads Postgres numeric and bigint values
// and formats a total with its currency's decimals. It is not for one
// event's amount (pkg/money, bounded by events.MaxAmountMinor) and knows
// nothing of exchange rates beyond rounding a ratio.
package minor
