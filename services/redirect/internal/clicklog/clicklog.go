package clicklog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linkcredit/linkcredit/pkg/aiosync"
	"github.com/linkcredit/linkcredit/pkg/pollwait"
)

// Sync policies.
const (
	SyncInterval = "interval"
	SyncAlways   = "always"
	SyncNone     = "none"
)

// Options configure a Log. Zero fields take defaults.
type Options struct {
	Dir          string
	SegmentBytes int64         // default 64 MiB
	MaxBytes     int64         // disk budget, default 2 GiB
	Sync         string        // SyncInterval (default), SyncAlways or SyncNone
	SyncEvery    time.Duration // default 200ms
}

// Errors.
var (
	ErrFull    = errors.New("clicklog: disk budget exhausted")
	ErrClosed  = errors.New("clicklog: closed")
	ErrCorrupt = errors.New("clicklog: corrupt record")
)

const headerLen = 16

func recordCRC(length, at, payload []byte) uint32 {
	c := crc32.Update(0, crcTable, length)
	c = crc32.Update(c, crcTable, at)
	return crc32.Update(c, crcTable, payload)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Position is a place in the log: a segment and a byte offset in it.
type Position struct {
	Segment uint64
	Offset  int64
}

// Record is one appended payload.
type Record struct {
	Payload    []byte
	AppendedAt time.Time
}

type segment struct {
	seq  uint64
	size int64
}

// Log is an append-only log of segment files in one directory.
type Log struct {
	opts Options

	mu     sync.Mutex
	segs   []segment // ordered; the last is active; sizes count written records
	active *os.File  // the active segment, preallocated to SegmentBytes
	total  int64     // bytes on disk and pending

	// The write side (append.go): Append adds records to pending and
	// waits; the writer goroutine writes each pending batch with one
	// pwrite(2). writeMu is held while a batch is written and while the
	// active segment changes, so the two never overlap.
	writeMu    sync.Mutex
	pending    *batch
	spare      [][]byte      // written batches' buffers, reused
	wake       chan struct{} // the writer has work; closed by Close
	writerDone chan struct{}

	dirty bool

	acked   Position
	saved   Position  // the checkpoint on disk
	savedAt time.Time // when it was written
	oldest  int64     // appended-at of the first unacked record, 0 when none
	// oldestKnown: oldest is up to date (Commit makes it stale; Stats
	// works it out again).
	oldestKnown bool
	saveMu      sync.Mutex // serialises checkpoint writes, outside mu
	closed      bool
	notify      chan struct{}
	stopSync    chan struct{}
	syncDone    chan struct{}

	remove func(name string) error // removeSegment; a test holds a deletion with it
	poll   *pollwait.Waiter        // removeSegment's, used under saveMu
	syncer *aiosync.Syncer         // every fsync of a segment

	readMu   sync.Mutex // the reader's file and buffer, used by one shipper
	readSeq  uint64
	readF    *os.File
	readBuf  []byte   // reused by every Read: records are valid until the next
	readRecs []Record // likewise
}

// readWindow is how much of a segment one Read reads at most: enough for
// a shipper's batch of clicks (about 1 KB each), and at least one record
// of any size a click can have (kafkatransport.MaxFrameBytes).
const readWindow = 1 << 20

// Open opens (or creates) the log in opts.Dir.
func Open(opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 2 << 30
	}
	if opts.Sync == "" {
		opts.Sync = SyncInterval
	}
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = 200 * time.Millisecond
	}
	switch opts.Sync {
	case SyncInterval, SyncAlways, SyncNone:
	default:
		return nil, fmt.Errorf("clicklog: unknown sync policy %q", opts.Sync)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("clicklog: %w", err)
	}
	l := &Log{opts: opts, notify: make(chan struct{}, 1), stopSync: make(chan struct{}), syncDone: make(chan struct{}),
		wake: make(chan struct{}, 1), writerDone: make(chan struct{})}
	l.remove = l.removeSegment
	var err error
	if l.acked, err = readCheckpoint(opts.Dir); err != nil {
		return nil, err
	}
	l.saved = l.acked
	if err := l.load(); err != nil {
		return nil, err
	}
	// Once the log opened, so that a failed Open holds no descriptor or
	// kernel context (load syncs and deletes nothing through them).
	l.poll, l.syncer = pollwait.New(), aiosync.New()
	l.oldest, l.oldestKnown = l.firstUnackedTime(), true
	go l.writeLoop()
	if opts.Sync == SyncInterval {
		go l.syncLoop()
	} else {
		close(l.syncDone)
	}
	return l, nil
}

func segName(seq uint64) string { return fmt.Sprintf("%020d.seg", seq) }

// load finds the segments, drops those wholly acknowledged, cuts a torn
// tail off the last one and opens it for appending.
func (l *Log) load() error {
	names, err := filepath.Glob(filepath.Join(l.opts.Dir, "*.seg"))
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, n := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".seg"), 10, 64)
		if err != nil {
			continue
		}
		if seq < l.acked.Segment {
			os.Remove(n)
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		fi, err := os.Stat(filepath.Join(l.opts.Dir, segName(seq)))
		if err != nil {
			return err
		}
		size := fi.Size()
		if size >= l.opts.SegmentBytes {
			// Still at its preallocated length: the process died before it
			// was cut to its records. Its records end where zeros begin.
			if size, err = validPrefix(filepath.Join(l.opts.Dir, segName(seq))); err != nil {
				return err
			}
		}
		l.segs = append(l.segs, segment{seq: seq, size: size})
		l.total += size
	}
	if len(l.segs) == 0 {
		return l.roll(max(l.acked.Segment, 1))
	}
	// The last segment may be preallocated past its records, or end in a
	// record torn by a crash: its size is its valid prefix.
	last := &l.segs[len(l.segs)-1]
	valid, err := validPrefix(filepath.Join(l.opts.Dir, segName(last.seq)))
	if err != nil {
		return err
	}
	path := filepath.Join(l.opts.Dir, segName(last.seq))
	if valid < last.size {
		if err := os.Truncate(path, valid); err != nil {
			return fmt.Errorf("clicklog: cut torn tail: %w", err)
		}
		l.total -= last.size - valid
		last.size = valid
	}
	if last.size+headerLen+1 > l.opts.SegmentBytes {
		return l.roll(last.seq + 1)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := l.preallocate(f); err != nil {
		f.Close()
		return err
	}
	l.active = f
	return nil
}

// validPrefix returns the length of the segment's leading whole records.
func validPrefix(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, err
	}
	var off int64
	for {
		_, n, err := parse(data[off:])
		if err != nil {
			return off, nil
		}
		off += int64(n)
	}
}

// parse decodes the record at the start of b, returning it and its length.
func parse(b []byte) (Record, int, error) {
	if len(b) < headerLen {
		return Record{}, 0, io.ErrUnexpectedEOF
	}
	n := int(binary.LittleEndian.Uint32(b[0:4]))
	if n == 0 { // the zeroed, never written part of a segment
		return Record{}, 0, io.ErrUnexpectedEOF
	}
	if len(b) < headerLen+n {
		return Record{}, 0, io.ErrUnexpectedEOF
	}
	payload := b[headerLen : headerLen+n]
	if recordCRC(b[0:4], b[8:16], payload) != binary.LittleEndian.Uint32(b[4:8]) {
		return Record{}, 0, ErrCorrupt
	}
	at := int64(binary.LittleEndian.Uint64(b[8:16]))
	return Record{Payload: payload, AppendedAt: time.Unix(0, at)}, headerLen + n, nil
}

// Appended is signalled after appends, for the shipper to wake up.
func (l *Log) Appended() <-chan struct{} { return l.notify }

// Acked is the position up to which records are acknowledged.
func (l *Log) Acked() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// Read returns up to max records from pos, and the position after them.
// It never returns part of a record still being written. The records'
// payloads are read into a buffer that the next Read reuses: they are
// valid until then (the log has one reader, the shipper, which is done
// with a batch before it reads the next).
func (l *Log) Read(pos Position, max int) ([]Record, Position, error) {
	l.mu.Lock()
	var seg *segment
	for i := range l.segs {
		if l.segs[i].seq == pos.Segment {
			seg = &l.segs[i]
			break
		}
	}
	if seg == nil { // pos is before the first segment, e.g. at start
		if len(l.segs) == 0 || pos.Segment > l.segs[len(l.segs)-1].seq {
			l.mu.Unlock()
			return nil, pos, nil
		}
		pos = Position{Segment: l.segs[0].seq}
		seg = &l.segs[0]
	}
	size := seg.size
	isLast := seg == &l.segs[len(l.segs)-1]
	next := uint64(0)
	if !isLast {
		for i := range l.segs {
			if l.segs[i].seq > seg.seq {
				next = l.segs[i].seq
				break
			}
		}
	}
	l.mu.Unlock()

	if pos.Offset >= size {
		if isLast {
			return nil, pos, nil
		}
		return l.Read(Position{Segment: next}, max)
	}
	l.readMu.Lock()
	defer l.readMu.Unlock()
	if l.readF == nil || l.readSeq != pos.Segment {
		if l.readF != nil {
			l.readF.Close()
		}
		f, err := os.Open(filepath.Join(l.opts.Dir, segName(pos.Segment)))
		if err != nil {
			return nil, pos, fmt.Errorf("clicklog: read: %w", err)
		}
		l.readF, l.readSeq = f, pos.Segment
	}
	buf, err := l.readAt(pos.Offset, int(min(size-pos.Offset, readWindow)))
	if err != nil {
		return nil, pos, err
	}
	if len(buf) >= headerLen {
		// A record bigger than the window (not a click's, but the log
		// takes any payload up to a segment): read it whole.
		if n := int64(headerLen) + int64(binary.LittleEndian.Uint32(buf[0:4])); n > int64(len(buf)) && n <= size-pos.Offset {
			if buf, err = l.readAt(pos.Offset, int(n)); err != nil {
				return nil, pos, err
			}
		}
	}
	recs := l.readRecs[:0]
	defer func() { l.readRecs = recs[:0] }()
	off := 0
	for len(recs) < max {
		rec, n, err := parse(buf[off:])
		if err == io.ErrUnexpectedEOF {
			if off == 0 { // cannot happen for a record written whole
				return nil, pos, fmt.Errorf("%w: record cut at %d/%d", ErrCorrupt, pos.Segment, pos.Offset)
			}
			break
		}
		if err != nil {
			return recs, Position{pos.Segment, pos.Offset + int64(off)}, fmt.Errorf("%w at segment %d offset %d", err, pos.Segment, pos.Offset+int64(off))
		}
		recs = append(recs, rec)
		off += n
	}
	return recs, Position{pos.Segment, pos.Offset + int64(off)}, nil
}

// readAt reads n bytes at off of the reader's segment into the reused
// buffer. Called with readMu held.
func (l *Log) readAt(off int64, n int) ([]byte, error) {
	if cap(l.readBuf) < n {
		l.readBuf = make([]byte, max(n, readWindow))
	}
	buf := l.readBuf[:n]
	if _, err := l.readF.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("clicklog: read: %w", err)
	}
	return buf, nil
}

// SkipSegment returns the start of the segment after pos's: the way past
// a corrupt record, which only a failing disk produces.
func (l *Log) SkipSegment(pos Position) Position {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if s.seq > pos.Segment {
			return Position{Segment: s.seq}
		}
	}
	// The corrupt segment is the active one: start a new one so appends
	// go past the damage, and skip to it.
	if len(l.segs) > 0 && l.segs[len(l.segs)-1].seq == pos.Segment {
		next := pos.Segment + 1
		if err := l.roll(next); err == nil {
			return Position{Segment: next}
		}
	}
	return pos
}

// Commit records that everything before pos is acknowledged and deletes
// segments wholly before it. The checkpoint file is rewritten at most every
// CheckpointEvery, and by Checkpoint and Close: after a crash, what was
// shipped since the checkpoint on disk is shipped again. Duplicates are
// allowed downstream; gaps are not, and a segment is only deleted once a
// checkpoint past it is on disk.
func (l *Log) Commit(pos Position) error {
	l.mu.Lock()
	l.acked = pos
	// The age of the oldest unacknowledged click is worked out when
	// Stats asks (a metrics scrape), not on every commit: it reads a
	// record header from disk.
	l.oldestKnown = false
	due := time.Since(l.savedAt) >= CheckpointEvery || pos.Segment != l.saved.Segment
	l.mu.Unlock()
	if !due {
		return nil
	}
	return l.save(pos)
}

// Checkpoint writes the checkpoint now if a commit since the last one
// left it behind (Commit writes it at most every CheckpointEvery). The
// shipper calls it when it has nothing to ship: the last commit of a
// burst would otherwise stay off disk until the next click, and a crash
// meanwhile would ship the whole burst again however long ago Kafka took
// it.
func (l *Log) Checkpoint() error {
	l.mu.Lock()
	pos, behind := l.acked, l.acked != l.saved && !l.closed
	l.mu.Unlock()
	if !behind {
		return nil
	}
	return l.save(pos)
}

// save writes pos as the checkpoint and deletes the segments wholly
// before it.
//
// The checkpoint is written and the segments are deleted outside mu, so
// appends never wait for those system calls. Deleting a 64 MiB segment
// drops its pages from the page cache, 7 ms of the kernel's time on a
// server given one core; under mu, every click arriving meanwhile waited
// for it, once a segment (perf during make bench per core, issue 15).
func (l *Log) save(pos Position) error {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	if err := writeCheckpoint(l.opts.Dir, pos); err != nil {
		return err
	}
	l.mu.Lock()
	l.saved, l.savedAt = pos, time.Now()
	var done []segment
	keep := l.segs[:0]
	for i, s := range l.segs {
		if s.seq < pos.Segment && i < len(l.segs)-1 {
			done = append(done, s)
			continue
		}
		keep = append(keep, s)
	}
	l.segs = keep
	l.mu.Unlock()
	// Past the checkpoint, so no reader asks for them again. Their bytes
	// leave the disk budget once they are gone.
	for _, s := range done {
		_ = l.remove(filepath.Join(l.opts.Dir, segName(s.seq))) // one left behind is removed at the next start (load)
		l.mu.Lock()
		l.total -= s.size
		l.mu.Unlock()
	}
	return nil
}

func (l *Log) firstUnackedTime() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstUnackedTimeLocked()
}

// firstUnackedTimeLocked reads the appended-at of the record at acked.
func (l *Log) firstUnackedTimeLocked() int64 {
	pos := l.acked
	for _, s := range l.segs {
		if s.seq < pos.Segment {
			continue
		}
		off := int64(0)
		if s.seq == pos.Segment {
			off = pos.Offset
		}
		if off >= s.size {
			continue
		}
		f, err := os.Open(filepath.Join(l.opts.Dir, segName(s.seq)))
		if err != nil {
			return time.Now().UnixNano()
		}
		var h [headerLen]byte
		_, err = f.ReadAt(h[:], off)
		f.Close()
		if err != nil {
			return time.Now().UnixNano()
		}
		return int64(binary.LittleEndian.Uint64(h[8:16]))
	}
	return 0
}

// Stats describe the log for metrics.
type Stats struct {
	Bytes      int64         // on disk, all segments
	Unacked    int64         // bytes not yet acknowledged
	OldestAge  time.Duration // age of the oldest unacknowledged record
	Segments   int
	BudgetUsed float64 // Bytes / MaxBytes
}

// Stats returns the log's current figures.
func (l *Log) Stats(now time.Time) Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Bytes: l.total, Segments: len(l.segs), BudgetUsed: float64(l.total) / float64(l.opts.MaxBytes)}
	for _, s := range l.segs {
		switch {
		case s.seq > l.acked.Segment:
			st.Unacked += s.size
		case s.seq == l.acked.Segment:
			st.Unacked += s.size - l.acked.Offset
		}
	}
	if !l.oldestKnown {
		l.oldest, l.oldestKnown = l.firstUnackedTimeLocked(), true
	}
	if l.oldest != 0 {
		st.OldestAge = now.Sub(time.Unix(0, l.oldest))
	}
	return st
}

// Close syncs and closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.wake) // under mu: no Append wakes the writer after this
	l.mu.Unlock()
	<-l.writerDone // every record appended before is written
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	l.writeMu.Lock()
	l.mu.Lock()
	close(l.stopSync)
	var err error
	if l.acked != l.saved {
		err = writeCheckpoint(l.opts.Dir, l.acked)
	}
	err = errors.Join(err, l.finishActive(true))
	l.mu.Unlock()
	l.writeMu.Unlock()
	<-l.syncDone
	l.readMu.Lock()
	if l.readF != nil {
		l.readF.Close()
	}
	l.readMu.Unlock()
	l.poll.Close() // under saveMu, taken above
	l.syncer.Close()
	return err
}

// removeSlice is how much of a shipped segment is cut off at a time
// before it is deleted: about half a millisecond of the kernel's time,
// and 32 waits for a 64 MiB segment, during which the shipper (whose
// goroutine deletes it) waits too.
const removeSlice = 2 << 20

// removeSegment deletes a shipped segment a slice at a time. Deleting a
// 64 MiB segment at once drops its pages from the page cache in one
// system call, 15-20 ms of the kernel's time, and a goroutine in a system
// call keeps Go's processor until sysmon takes it back: on a server given
// one core no request was served meanwhile (a runtime trace of the
// pinned redirect, issue 15). Cut from its end in 2 MiB slices, with a
// wait for the network poll between them, each call takes about half a
// millisecond. A crash part way leaves a shorter segment before the
// checkpoint, which the next start deletes unread (load). (Were the
// checkpoint's rename itself lost with the power, that segment would be
// read again up to its cut, reported corrupt there and its rest skipped:
// clicks already acknowledged by Kafka, shipped twice up to the cut.)
func (l *Log) removeSegment(name string) error {
	if f, err := os.OpenFile(name, os.O_WRONLY, 0); err == nil {
		if fi, err := f.Stat(); err == nil {
			for size := fi.Size() - removeSlice; size > 0; size -= removeSlice {
				if f.Truncate(size) != nil {
					break
				}
				l.poll.Wait()
			}
		}
		f.Close()
	}
	return os.Remove(name)
}

const checkpointFile = "checkpoint"

func readCheckpoint(dir string) (Position, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, err
	}
	if len(b) != 20 || crc32.Checksum(b[:16], crcTable) != binary.LittleEndian.Uint32(b[16:]) {
		// A damaged checkpoint: start from the oldest segment. Kafka may
		// see duplicates; it never misses a click.
		return Position{}, nil
	}
	return Position{Segment: binary.LittleEndian.Uint64(b[0:8]), Offset: int64(binary.LittleEndian.Uint64(b[8:16]))}, nil
}

// CheckpointEvery bounds how often Commit rewrites the checkpoint file.
const CheckpointEvery = 100 * time.Millisecond

// writeCheckpoint replaces the checkpoint by rename. It is not fsynced: on
// power loss an older (or no) checkpoint means clicks shipped twice, never
// clicks lost, and the records themselves follow the Sync policy.
func writeCheckpoint(dir string, pos Position) error {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:8], pos.Segment)
	binary.LittleEndian.PutUint64(b[8:16], uint64(pos.Offset))
	binary.LittleEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], crcTable))
	tmp := filepath.Join(dir, checkpointFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("clicklog: checkpoint: %w", err)
	}
	if _, err := f.Write(b[:]); err != nil {
		f.Close()
		return fmt.Errorf("clicklog: checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, checkpointFile))
}
