package linktable

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// The table's chunks and index live in anonymous memory mappings, outside
// the Go heap. They hold no pointers, so the collector loses nothing by not
// seeing them, and the heap it paces itself on stays the small, busy part:
// a million links cost their bytes once, not twice over with GOGC headroom.

// defaultRetireAfter is how long a replaced mapping stays mapped. Views returned
// by Get alias the mappings and live for one request; a minute is far
// longer than any request, and unmapping earlier could fault a reader.
const defaultRetireAfter = time.Minute

type retiredMapping struct {
	mem []byte
	at  time.Time
}

func mmap(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(fmt.Sprintf("linktable: mmap %d bytes: %v", n, err)) // out of memory
	}
	return b
}

func allocChunk() []byte { return mmap(chunkSize)[:0] }

func allocSlots(n int) []uint64 {
	b := mmap(n * 8)
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
}

func uint64Bytes(s []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8)
}

// retire schedules a mapping to be unmapped once no reader can hold a view
// into it, and unmaps those whose time has come. Called with mu held.
// Unless another retire comes first, a timer unmaps it then: a table
// that compacted once during an import and is not written again would
// otherwise keep its old chunks mapped, twice its size, for good.
func (t *Table) retire(mem []byte) {
	t.unmapRetired(time.Now())
	t.retired = append(t.retired, retiredMapping{mem: mem, at: time.Now()})
	if !t.sweepPending {
		t.sweepPending = true
		time.AfterFunc(t.retireDelay()+t.retireDelay()/60, t.sweepRetired)
	}
}

// sweepRetired unmaps the retired mappings whose time has come, and
// schedules itself again while some are left.
func (t *Table) sweepRetired() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unmapRetired(time.Now())
	t.sweepPending = len(t.retired) > 0
	if t.sweepPending {
		time.AfterFunc(t.retireDelay()+t.retireDelay()/60-time.Since(t.retired[0].at), t.sweepRetired)
	}
}

// retireDelay is how long a retired mapping stays mapped: never less than
// defaultRetireAfter outside tests.
func (t *Table) retireDelay() time.Duration {
	if t.retireAfter <= 0 {
		return defaultRetireAfter
	}
	return t.retireAfter
}

// unmapRetired unmaps the retired mappings older than retireDelay at now.
// Called with mu held.
func (t *Table) unmapRetired(now time.Time) {
	keep := t.retired[:0]
	for _, r := range t.retired {
		if now.Sub(r.at) > t.retireDelay() {
			_ = syscall.Munmap(r.mem)
			continue
		}
		keep = append(keep, r)
	}
	clear(t.retired[len(keep):])
	t.retired = keep
}
