// Package clicklog is redirect's local write-ahead log of clicks. A click is
// appended before its 302 is sent; a shipper reads the log in order,
// publishes to Kafka, and commits a checkpoint of what Kafka acknowledged.
// Segments wholly behind the checkpoint are deleted.
//
// Append returns once its record is in the file (the kernel's page cache),
// so a click answered 302 survives the process being killed right after.
// Appends that arrive together are written together (group commit): the
// log's writer goroutine takes every record pending and writes them with
// one pwrite(2), then wakes their appenders. A lone click costs one system
// call, as a write per click did; a busy server costs one for many clicks.
// (A shared file mapping, used before, made no system call but took a page
// fault every few clicks, costlier on ext4 than a large write and taken
// with the goroutine's processor blocked.)
//
// Records are framed as [length u32][crc32c u32][appended-at i64][payload].
// On open, a torn record at the tail of the last segment (a crash in the
// middle of a write) is cut off. Past the disk budget, Append fails with
// ErrFull rather than drop clicks silently: the redirect then answers 503,
// because a 302 promises the click is recorded.
//
// Durability against power loss follows the Sync policy: every batch is
// synced before its appends return (always), at most SyncEvery behind
// (interval, the default), or only at segment roll and close (none).
package clicklog
