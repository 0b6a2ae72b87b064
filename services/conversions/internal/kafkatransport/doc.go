// Package kafkatransport publishes the conversions outbox to Kafka: it
// moves messages and decides what a failed publish means (retry, or set a
// too-large event aside); the outbox's SQL lives in internal/postgres.
package kafkatransport
