// Package clicklog is redirect's local write-ahead log of clicks. A click is
// appended (one write(2), so it survives the process being killed) before
// its 302 is sent; a shipper reads the log in order, publishes to Kafka,
// and commits a checkpoint of what Kafka acknowledged. Segments wholly
// behind the checkpoint are deleted.
//
// Records are framed as [length u32][crc32c u32][appended-at i64][payload].
// On open, a torn record at the tail of the last segment (a crash in the
// middle of a write) is cut off. Past the disk budget, Append fails with
// ErrFull rather than drop clicks silently: the redirect then answers 503,
// because a 302 promises the click is recorded.
//
// Durability against power loss follows the Sync policy: every append
// (always), at most SyncEvery behind (interval, the default), or only at
// segment roll and close (none).
package clicklog
