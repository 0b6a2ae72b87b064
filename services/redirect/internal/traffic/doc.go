// Package traffic makes realistic click traffic for the redirect's
// benchmarks: many links, thousands of distinct browser user agents, a
// share of crawlers and unfurlers, visitors from many networks, UTM tags
// and placements. The in-process handler benchmark and cmd/clickbench (the
// load tool that drives a running redirect) draw from the same mix, so
// their figures describe the same traffic. It is test tooling, not part of
// the service.
package traffic
