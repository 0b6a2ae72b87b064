package window

import (
	"runtime"
	"sync"
	"time"
)

const (
	shards = 64
	ways   = 4 // slots a key may take: one set, one or two cache lines
)

// setsFor is how many sets of ways slots each shard gets for about
// maxKeys slots in all: a power of two, at least one.
func setsFor(maxKeys int) int {
	per, n := maxKeys/(shards*ways), 1
	for n < per {
		n <<= 1
	}
	return n
}

// setIndex picks a key's set in its shard from the bits the shard did
// not use (keys are hashes: every bit is as good as another).
func setIndex(key uint64, mask int) int { return int(key/shards) & mask }

// Recent reports whether a key was seen within a window.
type Recent struct {
	window int64
	mask   int
	shards [shards]recentShard
}

type recentShard struct {
	mu      sync.Mutex
	sets    []recentSet
	sweptAt int64    // unix nanos of the last sweep
	_       [24]byte // a cache line each: the shards' locks do not share one
}

// recentSet is the slots one key may take, 64 bytes: a lookup costs one
// cache line. With thousands of visitors a minute the table is larger
// than the CPU's caches, and Go's maps cost two or three misses a lookup
// in each of two generations (issue 15's profile).
type recentSet [ways]recentSlot

type recentSlot struct {
	key uint64
	at  int64 // unix nanos of the key's last event; 0: free
}

// DefaultRecentKeys is how many keys a Recent remembers by default: 4Mi,
// 64 MiB at 16 bytes a key: a unique window of 30 minutes holds every click of about 2,300 new visitor-link pairs a second.
const DefaultRecentKeys = 4 << 20

// NewRecent remembers keys for window, about maxKeys of them (default
// DefaultRecentKeys), at 16 bytes each, mapped at once outside the Go
// heap (memory is taken page by page as keys first land in them). Keys are visitor input (hashed), so this is
// the bound on memory whatever visitors send. A key shares a set of four
// slots with the keys whose hash lands there; a new key takes the set's
// least recent slot, so once the table is full (more keys within a window
// than it holds), the least recent keys are forgotten first and may count
// as unseen once more.
func NewRecent(window time.Duration, maxKeys int) *Recent {
	if maxKeys <= 0 {
		maxKeys = DefaultRecentKeys
	}
	n := setsFor(maxKeys)
	r := &Recent{window: int64(window), mask: n - 1}
	sets, mem := offHeap[recentSet](shards * n)
	runtime.AddCleanup(r, unmap, mem)
	for i := range r.shards {
		r.shards[i].sets = sets[i*n : (i+1)*n : (i+1)*n]
	}
	return r
}

// Seen records key at now and reports whether it was already seen within
// the window before now.
func (r *Recent) Seen(key uint64, now time.Time) bool {
	s := &r.shards[key%shards]
	t := now.UnixNano()
	if t == 0 {
		t = 1 // 0 marks a free slot
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t-s.sweptAt >= r.window || s.sweptAt == 0 {
		s.sweep(t, r.window)
	}
	set := &s.sets[setIndex(key, r.mask)]
	oldest := 0
	for i := range set {
		if set[i].key == key && set[i].at != 0 {
			last := set[i].at
			set[i].at = t
			return t-last < r.window
		}
		if set[i].at < set[oldest].at {
			oldest = i
		}
	}
	set[oldest].key, set[oldest].at = key, t
	return false
}

// sweep frees the slots of keys last seen a window or more before t, so
// that a key is forgotten, not only no longer counted, within two windows
// of its last event (while clicks come: a shard is swept on its first
// event a window after the last sweep). A shard is 1 MiB at the default
// size. Called with mu held.
func (s *recentShard) sweep(t, window int64) {
	if s.sweptAt != 0 {
		for i := range s.sets {
			for j := range s.sets[i] {
				if at := s.sets[i][j].at; at != 0 && t-at >= window {
					s.sets[i][j] = recentSlot{}
				}
			}
		}
	}
	s.sweptAt = t
}

// Limiter allows at most limit events per key per minute, estimated over
// a sliding minute from two fixed ones.
type Limiter struct {
	limit  float64
	period int64
	mask   int
	shards [shards]limitShard
}

type limitShard struct {
	mu       sync.Mutex
	sets     []limitSet
	sweptMin uint32 // the minute of the last sweep
	_        [28]byte
}

// limitSet is the slots one key may take: 96 bytes, one or two cache
// lines.
type limitSet [ways]limitSlot

type limitSlot struct {
	key       uint64
	minute    uint32 // the fixed minute cur counts (unix minutes); 0: free
	cur, prev uint32 // events in that minute and in the one before it
}

// DefaultLimiterKeys is how many keys a Limiter counts per minute by
// default: 256Ki distinct visitors a minute (over 4,000 a second).
const DefaultLimiterKeys = 256 << 10

// NewLimiter allows limit events per key per minute, counting about
// maxKeys keys a minute (default DefaultLimiterKeys): it holds twice that
// many slots, two minutes' worth, at 24 bytes each (12 MiB at the
// default), mapped at once outside the Go heap as NewRecent's. Keys are visitor input (hashed), so that is
// the bound on memory whatever visitors send.
//
// A key shares a set of four slots with the keys whose hash lands there.
// A new key takes a slot that counts nothing within the last two minutes,
// else the slot whose key counted the fewest events, which starts over:
// so a flood of distinct keys (each its own first event) evicts keys that
// have counted little, and a key that nears its limit stays counted
// unless its whole set is taken by keys that counted more. New visitors
// are never refused for want of room.
func NewLimiter(limit, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultLimiterKeys
	}
	n := setsFor(2 * maxKeys)
	l := &Limiter{limit: float64(limit), period: int64(time.Minute), mask: n - 1}
	sets, mem := offHeap[limitSet](shards * n)
	runtime.AddCleanup(l, unmap, mem)
	for i := range l.shards {
		l.shards[i].sets = sets[i*n : (i+1)*n : (i+1)*n]
	}
	return l
}

// Allow records an event for key at now and reports whether it is within
// the limit. Refused events are not counted.
func (l *Limiter) Allow(key uint64, now time.Time) bool {
	s := &l.shards[key%shards]
	t := now.UnixNano()
	minute := uint32(t/l.period) + 1 // 0 marks a free slot
	elapsed := float64(t%l.period) / float64(l.period)
	if t < 0 {
		minute, elapsed = 1, 0 // before 1970: no clock this runs on
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if minute-s.sweptMin >= 2 {
		s.sweep(minute)
	}
	set := &s.sets[setIndex(key, l.mask)]
	slot, fewest := -1, uint32(0)
	var cur, prev uint32
	for i := range set {
		c, p := counts(set[i].minute, set[i].cur, set[i].prev, minute)
		if set[i].key == key && set[i].minute != 0 {
			slot, cur, prev = i, c, p
			break
		}
		if n := c + p; slot < 0 || n < fewest {
			slot, fewest = i, n
		}
	}
	if set[slot].key != key || set[slot].minute == 0 {
		cur, prev = 0, 0 // a new key in the emptiest slot
	}
	if float64(cur)+float64(prev)*(1-elapsed)+1 > l.limit {
		return false
	}
	set[slot].key, set[slot].minute, set[slot].cur, set[slot].prev = key, minute, cur+1, prev
	return true
}

// sweep frees the slots that count nothing at minute, so that a key is
// forgotten within about two minutes of its last event counting nothing
// (while events come: as Recent's sweep). Called with mu held.
func (s *limitShard) sweep(minute uint32) {
	if s.sweptMin != 0 {
		for i := range s.sets {
			for j := range s.sets[i] {
				if m := s.sets[i][j].minute; m != 0 && m+1 < minute {
					s.sets[i][j] = limitSlot{}
				}
			}
		}
	}
	s.sweptMin = minute
}

// counts are a slot's events in minute now and in the minute before,
// from what it stored at minute then.
func counts(then, cur, prev, now uint32) (uint32, uint32) {
	switch {
	case then == now:
		return cur, prev
	case then+1 == now:
		return 0, cur
	default:
		return 0, 0
	}
}
