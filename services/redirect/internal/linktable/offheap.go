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

// retireAfter is how long a replaced mapping stays mapped. Views returned
// by Get alias the mappings and live for one request; a minute is far
// longer than any request, and unmapping earlier could fault a reader.
const retireAfter = time.Minute

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
func (t *Table) retire(mem []byte) {
	now := time.Now()
	keep := t.retired[:0]
	for _, r := range t.retired {
		if now.Sub(r.at) > retireAfter {
			_ = syscall.Munmap(r.mem)
			continue
		}
		keep = append(keep, r)
	}
	t.retired = append(keep, retiredMapping{mem: mem, at: now})
}
