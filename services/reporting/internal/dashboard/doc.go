// Package dashboard renders the funding dashboard: how partner
// commissions fund the catalog, by month, partner and course, as
// server-rendered HTML with inline SVG charts, each followed by the table
// it draws. It needs no JavaScript and loads nothing from elsewhere; its
// stylesheet is embedded in the binary.
//
// It also signs people in (signin.go): a finance token buys a
// finance-only session (package session) held in a __Host- cookie, never
// the token; sign-in and sign-out refuse other origins, and failed
// sign-ins are throttled per client address (throttle.go).
package dashboard
