// Package traffic makes realistic click traffic for the redirect's
// in-process benchmarks: many links, thousands of distinct browser user
// agents and a share of crawlers and unfurlers (from pkg/useragent, as
// make bench's load tool draws them), visitors from many networks, UTM
// tags and placements. It is test tooling, not part of the service.
package traffic
