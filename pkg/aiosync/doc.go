// Package aiosync puts a file's written data on disk (fsync) without
// holding one of Go's processors while the disk works.
//
// A goroutine in a system call keeps its processor until sysmon takes it
// back, and sysmon, when it has found nothing to do for a while, looks
// only every 10 ms: an fsync of 3-4 ms held the only processor of a
// server given one core, and no request was served meanwhile, five times
// a second (the redirect's click log, a runtime trace of its pinned
// rounds, issue 15, docs/performance.md).
//
// A Syncer submits the fsync through Linux's asynchronous I/O
// (IOCB_CMD_FSYNC, which the kernel runs in a worker) and waits for its
// completion on an eventfd that the runtime's network poller watches, so
// the goroutine parks and the processor serves others. The guarantee is
// the same as os.File.Sync's. Where asynchronous fsync is missing (an
// older kernel, another system, a file system without it, a seccomp
// filter that refuses the calls), Sync is os.File.Sync.
package aiosync
