// Package platform is what every linkcredit service process stands on: the
// settings all three share (listen address, DATABASE_URL, KAFKA_BROKERS,
// tokens, telemetry), and the start-up of the pieces built from them:
// logger, telemetry, database pool with the service's migrations applied,
// topic bootstrap, and a router with /healthz, /readyz and /metrics.
//
// A service's main reads top to bottom: platform.ReadConfig, platform.Start,
// then its own stores, service, endpoints and transports, then Serve.
// Domain code never imports this package.
package platform
