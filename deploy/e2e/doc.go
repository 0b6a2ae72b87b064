// Package e2e drives the built binaries from outside, as a user would:
// the local stack (make run) with its PostgreSQL, dev broker and three
// services, read with curl-like HTTP calls and with kcat.
package e2e
