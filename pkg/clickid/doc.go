// Package clickid makes and checks click ids: 34 characters of Crockford
// base32 (URL-safe, case-insensitive on input), a 26-character ULID (48-bit
// millisecond time, so ids sort by time, plus 80 random bits) followed by an
// 8-character tag, 40 bits of HMAC-SHA256 over the ULID.
//
// The tag lets any service holding the key tell a click id that redirect
// issued from a forged or mangled one without a lookup. Keys rotate: the
// first key signs, every key verifies.
package clickid
