// Package dashboard renders the funding dashboard: how partner
// commissions fund the catalog, by month, partner and course, as
// server-rendered HTML with inline SVG charts, each followed by the table
// it draws. It needs no JavaScript and loads nothing from elsewhere; its
// stylesheet is embedded in the binary.
package dashboard
