// Package conversion is the conversions service's domain: partners and
// their credentials, and the acceptance of webhooks and postbacks. A
// request is authenticated, decoded through the partner's adapter, given a
// stable event id and an idempotency key, and stored with its outbox event
// in one transaction before anything is answered. It knows neither HTTP
// nor SQL nor Kafka.
package conversion
