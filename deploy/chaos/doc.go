// Package chaos breaks a running linkcredit stack under load and proves,
// with loadgen's exact reconciliation, that every click and conversion the
// stack acknowledged is counted once and nothing else: services SIGKILLed
// and restarted, the network to the broker cut through a fault-injecting
// proxy (the broker advertises the proxy's address), the broker killed and
// restarted from its data directory, PostgreSQL stopped and restarted under
// webhook load, poison on every topic, and two replicas of each service
// sharing the work while one of each is killed.
//
// The Harness runs every process itself (no localstack: localstack starts
// a process that dies again by itself, where these tests kill, hold down
// and restart each one when they choose). Everything listens on 127.0.0.1. TestChaosShort runs in `make
// test`; `make chaos` runs every scenario (CHAOS=full).
package chaos
