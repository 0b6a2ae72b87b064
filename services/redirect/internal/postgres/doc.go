// Package postgres holds the redirect service's stores and its migrations,
// embedded in the binary and applied to the "redirect" schema at start-up.
package postgres
