// Package httpx holds what every linkcredit HTTP server shares: serving
// with timeouts and graceful shutdown, JSON errors in the contract's shape,
// body limits, bearer-token auth with scopes, the /healthz and /readyz
// probes, and a router whose unknown routes answer JSON too.
//
// It has no routes of any service; those live in each service's
// httptransport package.
package httpx
