// Package httptransport serves the conversions service over HTTP with
// go-kit: partner administration, webhooks and postbacks.
package httptransport
