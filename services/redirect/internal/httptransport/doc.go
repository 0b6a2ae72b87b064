// Package httptransport serves the redirect service over HTTP with go-kit:
// the click route for visitors and the admin API for links.
package httptransport
