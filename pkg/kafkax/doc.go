// Package kafkax is linkcredit's thin layer over segmentio/kafka-go:
//
//   - EnsureTopics and Ping: topic bootstrap and the readiness probe.
//   - NewWriter and Publisher: keyed Hash partitioning, acks from all in-sync
//     replicas, a short batch timeout (kafka-go's 1 s default makes every
//     synchronous write take a second), a producer span per publish and W3C
//     trace context in the message headers.
//   - Subscriber: a go-kit-style consumer that fetches, runs its handler on a
//     batch, and commits only after the handler succeeded. Failures the
//     errs package calls transient are retried with backoff, forever; poison
//     messages are isolated from their batch and sent to the topic's
//     dead-letter twin with the reason in headers, so they never block a
//     partition and are never silently dropped.
//
// Nothing here knows which broker it talks to: Apache Kafka in production,
// the embedded kfake broker locally and in tests.
package kafkax
