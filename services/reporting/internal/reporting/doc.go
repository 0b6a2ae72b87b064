// Package reporting is the reporting service's domain: commission
// reports, exchange rates, remittances, statements and closed periods,
// validated and answered through a Store. It knows nothing of HTTP, Kafka
// or SQL; the ledger's accounting lives in package ledger.
package reporting
