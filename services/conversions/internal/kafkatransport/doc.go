// Package kafkatransport publishes the conversions outbox to Kafka.
package kafkatransport
