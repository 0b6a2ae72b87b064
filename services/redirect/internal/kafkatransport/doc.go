// Package kafkatransport connects redirect to Kafka through its click log:
// Recorder frames each click as the Kafka message it will become and
// appends it to the log (before the 302); Shipper publishes the log to
// clicks.v1 in order, with acks from all in-sync replicas, and commits the
// log's checkpoint only after Kafka acknowledged. After a crash the
// unacknowledged tail is shipped again: downstream may see a duplicate
// click (same id), never miss one.
package kafkatransport
