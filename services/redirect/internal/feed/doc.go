// Package feed reads catalog feeds of course links, NDJSON or CSV, one row
// at a time so a feed of any length is read in constant memory. Each row
// comes with its line number and either a link or the reason it could not
// be read; validation of the link itself is the caller's.
package feed
