// Package otelx sets up a service's telemetry and the go-kit and HTTP
// middleware that use it:
//
//   - Setup builds OpenTelemetry tracer and meter providers from the
//     environment: OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set,
//     and a Prometheus registry always (served at /metrics). Trace sampling
//     is parent-based with a ratio, so a hot path can sample sparsely.
//   - NewLogger writes structured JSON logs that carry the trace and span
//     ids of the context they are written in.
//   - EndpointMiddleware wraps go-kit endpoints with a span, a duration
//     histogram and a log line for internal failures; HTTPMiddleware does
//     the same for every HTTP request, labelled by route pattern.
//
// Providers are passed explicitly, never installed as globals.
package otelx
