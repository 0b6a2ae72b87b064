package aiosync

import (
	"os"
	"sync"
	"sync/atomic"
)

// Syncer syncs files, one at a time, without holding a processor. The
// zero Syncer and a nil one call os.File.Sync.
type Syncer struct {
	mu    sync.Mutex
	a     *aio // nil: os.File.Sync
	async atomic.Int64
}

// New returns a Syncer; without asynchronous I/O it syncs the plain way,
// which is never an error.
func New() *Syncer {
	a, err := openAIO()
	if err != nil {
		return &Syncer{}
	}
	return &Syncer{a: a}
}

// Sync is f.Sync(): it returns once f's written data and metadata are on
// disk, or the error that prevented it.
func (s *Syncer) Sync(f *os.File) error {
	if s == nil {
		return f.Sync()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.a == nil {
		return f.Sync()
	}
	done, err := s.a.fsync(f)
	if !done {
		return f.Sync() // not submitted: this file cannot be synced asynchronously
	}
	s.async.Add(1)
	return err
}

// Async reports how many syncs went through asynchronous I/O.
func (s *Syncer) Async() int64 {
	if s == nil {
		return 0
	}
	return s.async.Load()
}

// Close releases the Syncer's kernel context and eventfd. Later syncs
// are os.File.Sync.
func (s *Syncer) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.a == nil {
		return nil
	}
	a := s.a
	s.a = nil
	return a.close()
}
