// Package testkit is the one harness integration tests use: a fresh
// PostgreSQL database per test and an in-process Kafka-protocol broker.
//
// Postgres: when DATABASE_URL is set, each test gets a new database created
// on that server and dropped afterwards. Otherwise the first test of a test
// binary starts a throwaway cluster (initdb in a temp dir, run as the
// postgres user when root, durability off) that the kernel stops when the
// test binary exits, however it exits. Failing to get a database fails the
// test loudly; nothing here ever skips.
//
// Kafka: each call starts its own kfake broker on a free loopback port, with
// topic auto-creation and one-second group sessions, closed at cleanup.
package testkit
