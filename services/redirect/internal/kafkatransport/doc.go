// Package kafkatransport connects redirect to Kafka through its click log:
// Recorder frames each click as the Kafka message it will become and
// appends it to the log (before the 302); Shipper publishes the log to
// clicks.v1 in order, with acks from all in-sync replicas, and commits the
// log's checkpoint only after Kafka acknowledged. After a crash the
// unacknowledged tail is shipped again: downstream may see a duplicate
// click (same id), never miss one. The one exception is a click Kafka
// refuses as too large (MESSAGE_TOO_LARGE), which no retry can fix: it is
// set aside to clicks.v1.dlq with the reason (dropped if that topic cannot
// take it), logged and counted, so it does not block the log. Recorder
// keeps every click below MaxFrameBytes (32 KiB), so only a topic
// configured below that can refuse one.
package kafkatransport
