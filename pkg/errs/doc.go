// Package errs gives linkcredit's errors a kind, and maps each kind, in one
// table, to the HTTP status a caller sees and to what a Kafka consumer does
// with a message whose handling failed: retry it, or dead-letter it.
//
// Domain code returns errors made with New (or wraps them with %w); transports
// never inspect messages, only kinds, through errors.Is. An error without a
// kind is internal: a 500 over HTTP, and a retry (never a silent skip) on the
// bus. It is not a package for logging or for error aggregation.
package errs
