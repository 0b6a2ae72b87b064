package linktable

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Link is what the hot path needs of a link.
type Link struct {
	Code        string
	Partner     string
	CourseID    string
	Destination string
	Active      bool
	// Placements is the link's placement allow-list joined by
	// PlacementSep ("" allows any placement): one string, so a lookup
	// stays a view into the arena and allocates nothing.
	Placements string
}

// PlacementSep joins Placements; no placement can contain it.
const PlacementSep = ","

// AllowsPlacement reports whether a click on l may record placement p as
// sent: l has no allow-list, or it names p.
func (l Link) AllowsPlacement(p string) bool {
	if l.Placements == "" {
		return true
	}
	for rest := l.Placements; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, PlacementSep)
		if item == p {
			return true
		}
	}
	return false
}

const (
	chunkSize  = 1 << 20 // bytes per arena chunk
	headerSize = 11      // flags u8, partner u32, codeLen u8, courseLen u8, destLen u16, placementsLen u16
	maxRecord  = headerSize + 255 + 255 + 65535 + 65535
	offsetBits = 20
	refBits    = 40 // chunk<<20 | offset, +1 so that 0 means empty
)

// ErrTooLong is returned for a field that does not fit a record.
var ErrTooLong = errors.New("linktable: field too long")

// Table maps codes to links.
type Table struct {
	mu      sync.RWMutex
	seed    maphash.Seed
	chunks  [][]byte         // off-heap, see offheap.go
	slots   []uint64         // off-heap; 0 empty, else tag<<40 | (ref+1)
	retired []retiredMapping // oldest first
	// sweepPending is set while a timer will unmap retired mappings.
	sweepPending bool
	retireAfter  time.Duration // defaultRetireAfter; shorter in tests
	count        int
	live         int // bytes of current records
	waste        int // bytes of replaced records

	// partners interns the partner ids of the records: a record holds
	// its partner's index. 32 bits, so no number of partners can wrap an
	// index onto another's (16 did, past 65,536, and clicks were recorded
	// under the wrong partner). compact drops the ids no link names.
	partners   []string
	partnerIdx map[string]uint32
}

// New returns an empty table sized for n links.
func New(n int) *Table {
	size := 1024
	for size*3/4 < n {
		size *= 2
	}
	return &Table{seed: maphash.MakeSeed(), slots: allocSlots(size), partnerIdx: map[string]uint32{}, retireAfter: defaultRetireAfter}
}

// Len is the number of links.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// Bytes is the memory the table has mapped: chunks plus index.
func (t *Table) Bytes() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.chunks)*chunkSize + len(t.slots)*8
}

// Get returns the link for code.
func (t *Table) Get(code string) (Link, bool) {
	h := maphash.String(t.seed, code)
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, found := t.find(code, h)
	if !found {
		return Link{}, false
	}
	return t.decode(t.slots[i]), true
}

// Put inserts or replaces a link.
func (t *Table) Put(l Link) error {
	if len(l.Code) > 255 || len(l.CourseID) > 255 || len(l.Destination) > 65535 || len(l.Placements) > 65535 || len(l.Code) == 0 {
		return ErrTooLong
	}
	h := maphash.String(t.seed, l.Code)
	t.mu.Lock()
	defer t.mu.Unlock()
	if (t.count+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	i, found := t.find(l.Code, h)
	if found {
		t.waste += t.recordLen(t.slots[i])
		t.live -= t.recordLen(t.slots[i])
	} else {
		t.count++
	}
	ref, n := t.write(l)
	t.live += n
	t.slots[i] = tag(h)<<refBits | (ref + 1)
	if t.waste > chunkSize*16 && t.waste > t.live {
		t.compact()
	}
	return nil
}

// find returns the slot holding code, or the empty slot where it belongs.
func (t *Table) find(code string, h uint64) (int, bool) {
	mask := uint64(len(t.slots) - 1)
	want := tag(h)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return int(i), false
		}
		if s>>refBits == want && t.codeAt(s) == code {
			return int(i), true
		}
	}
}

func tag(h uint64) uint64 { return h >> (64 - (64 - refBits)) }

func (t *Table) record(s uint64) []byte {
	ref := s&(1<<refBits-1) - 1
	chunk, off := ref>>offsetBits, ref&(1<<offsetBits-1)
	return t.chunks[chunk][off:]
}

func (t *Table) recordLen(s uint64) int {
	r := t.record(s)
	return headerSize + int(r[5]) + int(r[6]) + int(binary.LittleEndian.Uint16(r[7:9])) + int(binary.LittleEndian.Uint16(r[9:11]))
}

func (t *Table) codeAt(s uint64) string {
	r := t.record(s)
	return unsafeString(r[headerSize : headerSize+int(r[5])])
}

func (t *Table) decode(s uint64) Link {
	r := t.record(s)
	codeLen, courseLen, destLen := int(r[5]), int(r[6]), int(binary.LittleEndian.Uint16(r[7:9]))
	placementsLen := int(binary.LittleEndian.Uint16(r[9:11]))
	body := r[headerSize:]
	dest := codeLen + courseLen
	places := dest + destLen
	return Link{
		Code:        unsafeString(body[:codeLen]),
		CourseID:    unsafeString(body[codeLen:dest]),
		Destination: unsafeString(body[dest:places]),
		Placements:  unsafeString(body[places : places+placementsLen]),
		Partner:     t.partners[binary.LittleEndian.Uint32(r[1:5])],
		Active:      r[0]&1 == 1,
	}
}

// unsafeString aliases b: arena bytes are never written twice.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// write appends a record to the arena and returns its reference and size.
func (t *Table) write(l Link) (uint64, int) {
	p, ok := t.partnerIdx[l.Partner]
	if !ok {
		p = uint32(len(t.partners))
		t.partners = append(t.partners, l.Partner)
		t.partnerIdx[l.Partner] = p
	}
	n := headerSize + len(l.Code) + len(l.CourseID) + len(l.Destination) + len(l.Placements)
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])+n > chunkSize {
		t.chunks = append(t.chunks, allocChunk())
		last++
	}
	c := t.chunks[last]
	off := len(c)
	var flags byte
	if l.Active {
		flags = 1
	}
	c = append(c, flags, byte(p), byte(p>>8), byte(p>>16), byte(p>>24), byte(len(l.Code)), byte(len(l.CourseID)), byte(len(l.Destination)), byte(len(l.Destination)>>8),
		byte(len(l.Placements)), byte(len(l.Placements)>>8))
	c = append(c, l.Code...)
	c = append(c, l.CourseID...)
	c = append(c, l.Destination...)
	c = append(c, l.Placements...)
	t.chunks[last] = c
	return uint64(last)<<offsetBits | uint64(off), n
}

func (t *Table) grow() {
	old := t.slots
	t.slots = allocSlots(len(old) * 2)
	defer t.retire(uint64Bytes(old))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		h := maphash.String(t.seed, t.codeAt(s))
		i := h & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// compact rewrites live records into fresh chunks. Views into the old
// chunks stay valid: the old chunks are only dropped, never reused.
func (t *Table) compact() {
	oldSlots := t.slots
	links := make([]Link, 0, t.count)
	for _, s := range oldSlots {
		if s != 0 {
			links = append(links, t.decode(s))
		}
	}
	for _, c := range t.chunks {
		t.retire(c[:cap(c)])
	}
	t.retire(uint64Bytes(oldSlots))
	t.chunks, t.slots, t.count, t.live, t.waste = nil, allocSlots(len(oldSlots)), 0, 0, 0
	t.partners, t.partnerIdx = nil, map[string]uint32{} // only those the live links name
	mask := uint64(len(t.slots) - 1)
	for _, l := range links {
		h := maphash.String(t.seed, l.Code)
		i := h & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		ref, n := t.write(l)
		t.slots[i] = tag(h)<<refBits | (ref + 1)
		t.live += n
		t.count++
	}
}
