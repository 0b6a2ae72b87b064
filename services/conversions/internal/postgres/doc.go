// Package postgres holds the conversions service's stores and its migrations,
// embedded in the binary and applied to the "conversions" schema at start-up.
package postgres
