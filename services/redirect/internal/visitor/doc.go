// Package visitor turns a request's IP address and User-Agent into a
// visitor hash that links one visitor's clicks within a day and nothing
// more. The IP is truncated first (IPv4 to /24, IPv6 to /48), then hashed
// with HMAC-SHA256 under a random salt of the current UTC day. Salts are
// shared by all replicas through a store that no backup or database
// replica holds (so it may lose them; replicas then put back the salt
// they hold, see Hasher.Refresh) and deleted after their day, so once a
// day has passed its hashes can no longer be tested against any IP. The
// raw IP is never stored or logged.
//
// Key hashes the same input under a random per-process seed instead of
// the salt, and NetworkKey the truncated IP alone. They key what the
// service remembers in memory for a short while, the unique-click window
// and the rate limits, and unlike the hash they do not change at midnight
// UTC. They are never stored or published.
package visitor
