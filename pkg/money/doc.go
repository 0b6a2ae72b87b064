// Package money represents amounts of money exactly: an integer count of the
// currency's minor units (cents, fils, yen) plus an ISO 4217 currency code.
// Amounts travel as decimal strings ("49.99") that Parse and String convert
// without rounding. There is no float anywhere in this package, on purpose:
// 0.1 has no exact binary form, and finance reconciles to the cent.
//
// It is not a currency-conversion library; exchange rates live in reporting.
package money
