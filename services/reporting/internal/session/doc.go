// Package session is the dashboard's sign-in session: an opaque random id
// a browser holds in a cookie, kept on the server only as its SHA-256
// digest, with an idle and an absolute expiry read from the injected
// clock, scoped to finance, and revoked on sign-out.
//
// It is not the HTTP side (cookies, Origin checks, throttling: package
// dashboard) nor the storage (package postgres).
package session
