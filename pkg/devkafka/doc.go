// Package devkafka starts an embedded Kafka-protocol broker (franz-go's
// kfake) for tests and for the local stack's dev broker. Clients talk to it
// over the real Kafka protocol on a TCP port, exactly as to Apache Kafka;
// services never import this package and cannot tell the difference.
package devkafka
