package window

import (
	"fmt"
	"syscall"
	"unsafe"
)

// offHeap returns n zeroed values of T (which must hold no pointers) in
// an anonymous mapping outside the Go heap, and the mapping to unmap when
// they are no longer used. Outside the heap, the tables do not count
// towards the live heap that the collector paces itself on (with GOGC
// 400, 100 MB of tables would let the heap grow by 400 MB between
// collections), and their pages take memory only once a key lands in
// them.
func offHeap[T any](n int) ([]T, []byte) {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(fmt.Sprintf("window: mmap %d bytes: %v", size, err)) // out of memory
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), n), mem
}

func unmap(mem []byte) { _ = syscall.Munmap(mem) }
