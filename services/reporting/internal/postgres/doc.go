// Package postgres holds the reporting service's stores and its migrations,
// embedded in the binary and applied to the "reporting" schema at start-up.
package postgres
