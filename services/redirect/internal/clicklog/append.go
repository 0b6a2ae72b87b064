package clicklog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// batch is the records appended while the writer was busy: written with
// one pwrite(2), after which done is closed and err says how it went.
type batch struct {
	buf  []byte
	done chan struct{}
	err  error
}

// maxSpare bounds a batch buffer kept for reuse, and spareBuffers how
// many are kept: two, one filling while the other is written. With one,
// a batch begun while another was being written often found none and
// grew its buffer from nothing (680 bytes allocated and copied a click in
// BenchmarkClickRealistic, issue 15; none now).
const (
	maxSpare     = 4 << 20
	spareBuffers = 2
)

// Append writes payload as one record and returns once it is in the
// file (in the kernel's page cache): from then on it survives the process
// dying, SIGKILL included. Concurrent appends are written together (group
// commit): each waits for the one write(2) of its batch, so a busy server
// makes one system call for many clicks instead of one each (or, as a
// shared file mapping did, a page fault every few clicks, taken with the
// goroutine's thread and processor blocked). With SyncAlways the batch is
// also synced before any of its appends returns.
func (l *Log) Append(payload []byte, now time.Time) error {
	size := int64(headerLen + len(payload))
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.total+size > l.opts.MaxBytes {
		l.mu.Unlock()
		return ErrFull
	}
	if size > l.opts.SegmentBytes {
		l.mu.Unlock()
		return fmt.Errorf("clicklog: record of %d bytes is larger than a segment", size)
	}
	b := l.pending
	if b == nil {
		b = &batch{done: make(chan struct{})}
		if n := len(l.spare); n > 0 {
			b.buf, l.spare = l.spare[n-1], l.spare[:n-1]
		}
		l.pending = b
	}
	b.buf = appendRecord(b.buf, payload, now)
	l.total += size
	if l.oldestKnown && l.oldest == 0 {
		l.oldest = now.UnixNano()
	}
	select { // under mu, so never after Close closed wake
	case l.wake <- struct{}{}:
	default:
	}
	l.mu.Unlock()
	<-b.done
	return b.err
}

// appendRecord frames payload as a record:
// [length u32][crc32c u32][appended-at i64][payload].
func appendRecord(dst, payload []byte, now time.Time) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerLen)...)
	dst = append(dst, payload...)
	rec := dst[start:]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(rec[8:16], uint64(now.UnixNano()))
	binary.LittleEndian.PutUint32(rec[4:8], recordCRC(rec[0:4], rec[8:16], payload))
	return dst
}

// writeLoop is the writer: it writes pending batches until Close.
func (l *Log) writeLoop() {
	defer close(l.writerDone)
	for range l.wake {
		// Let the goroutines that are ready to run (handlers about to
		// append) add their records first: one write for all of them.
		runtime.Gosched()
		l.flush()
	}
	l.flush()
}

// flush writes the pending batch, if any, and wakes its appenders.
func (l *Log) flush() {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	b := l.pending
	l.pending = nil
	l.mu.Unlock()
	if b == nil {
		return
	}
	written, err := l.write(b.buf)
	b.err = err
	l.mu.Lock()
	// A failed batch fails every append in it (503s, never a 302 for a
	// click not written); records written before the failure stay, and
	// ship as clicks: a duplicate of a retried click at worst, never a
	// lost one.
	l.total -= int64(len(b.buf) - written)
	if len(l.spare) < spareBuffers && cap(b.buf) <= maxSpare {
		l.spare = append(l.spare, b.buf[:0]) // the appenders read b.err, never b.buf
	}
	l.mu.Unlock()
	close(b.done)
}

// write writes whole records from buf at the end of the active segment,
// starting a new segment when the next record does not fit, and returns
// how many bytes it wrote. Called by flush with writeMu held: nothing else
// writes or rolls meanwhile.
func (l *Log) write(buf []byte) (written int, err error) {
	for len(buf) > 0 {
		l.mu.Lock()
		act := l.segs[len(l.segs)-1]
		f := l.active
		n := fit(buf, l.opts.SegmentBytes-act.size)
		if f == nil || n == 0 {
			err := l.roll(act.seq + 1)
			l.mu.Unlock()
			if err != nil {
				return written, err
			}
			continue
		}
		l.mu.Unlock()
		if _, err := f.WriteAt(buf[:n], act.size); err != nil {
			return written, fmt.Errorf("clicklog: write: %w", err)
		}
		if l.opts.Sync == SyncAlways {
			if err := l.syncer.Sync(f); err != nil {
				return written, fmt.Errorf("clicklog: sync: %w", err)
			}
		}
		l.mu.Lock()
		l.segs[len(l.segs)-1].size += int64(n) // still the active one: rolls hold writeMu
		l.dirty = true
		l.mu.Unlock()
		select {
		case l.notify <- struct{}{}:
		default:
		}
		buf = buf[n:]
		written += n
	}
	return written, nil
}

// fit returns the length of the longest run of whole records at the start
// of buf that fits in room bytes.
func fit(buf []byte, room int64) int {
	n := 0
	for n < len(buf) {
		size := headerLen + int(binary.LittleEndian.Uint32(buf[n:n+4]))
		if int64(n+size) > room {
			break
		}
		n += size
	}
	return n
}

// roll finishes the active segment (cut to its records) and starts
// segment seq, preallocated so that a full disk shows as ErrFull when a
// segment starts, not in the middle of a batch. Called with mu held, and
// writeMu (no batch is being written).
func (l *Log) roll(seq uint64) error {
	if err := l.finishActive(false); err != nil {
		return err
	}
	path := filepath.Join(l.opts.Dir, segName(seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("clicklog: new segment: %w", err)
	}
	if err := l.preallocate(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	l.active = f
	l.segs = append(l.segs, segment{seq: seq})
	return nil
}

// preallocate reserves a segment's size on disk for f.
func (l *Log) preallocate(f *os.File) error {
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, l.opts.SegmentBytes); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return ErrFull
		}
		if err := f.Truncate(l.opts.SegmentBytes); err != nil { // file systems without fallocate
			return fmt.Errorf("clicklog: preallocate: %w", err)
		}
	}
	return nil
}

// finishActive cuts the active segment's file to its records. With wait
// false (a roll, on the write path), the file's final sync and close
// happen in the background so appends do not stall on it.
func (l *Log) finishActive(wait bool) error {
	if l.active == nil {
		return nil
	}
	f := l.active
	var errs []error
	if len(l.segs) > 0 {
		errs = append(errs, f.Truncate(l.segs[len(l.segs)-1].size))
	}
	l.active = nil
	finish := func() error {
		var err error
		if l.opts.Sync != SyncNone {
			err = l.syncer.Sync(f)
		}
		return errors.Join(err, f.Close())
	}
	if wait {
		errs = append(errs, finish())
	} else {
		go finish() //nolint:errcheck // a failed sync here is a failed disk; the next read reports it
	}
	return errors.Join(errs...)
}

func (l *Log) syncLoop() {
	defer close(l.syncDone)
	t := time.NewTicker(l.opts.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stopSync:
			return
		case <-t.C:
		}
		l.mu.Lock()
		f, dirty := l.active, l.dirty
		l.dirty = false
		l.mu.Unlock()
		if dirty && f != nil {
			// Outside the lock: appends go on. If a roll closes f
			// meanwhile, its closer has synced it, and this call's error
			// is moot. Asynchronous: the 3-4 ms of an fsync held the
			// processor of a server given one core (aiosync).
			_ = l.syncer.Sync(f)
		}
	}
}
