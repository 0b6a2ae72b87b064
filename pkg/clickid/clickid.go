package clickid

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// Length is the length of a click id.
const Length = 34

const (
	ulidLen = 26
	tagLen  = 8
	alpha   = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford base32
)

// Errors Verify returns.
var (
	ErrMalformed = errors.New("click id is malformed")
	ErrForged    = errors.New("click id tag does not verify")
)

var decodeTable = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = byte(i)
		t[alpha[i]|0x20] = byte(i) // lower case
	}
	// Crockford's aliases for characters people misread.
	for _, a := range []struct{ from, to byte }{{'O', 0}, {'o', 0}, {'I', 1}, {'i', 1}, {'L', 1}, {'l', 1}} {
		t[a.from] = a.to
	}
	return t
}()

type signing struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// Signer issues and verifies click ids.
type Signer struct {
	keys  [][]byte
	macs  sync.Pool // hash.Hash over keys[0]
	rands sync.Pool // *mrand.ChaCha8 seeded from crypto/rand
	now   func() time.Time
}

// NewSigner returns a signer; keys[0] signs, all verify. Keys must be at
// least 16 bytes.
func NewSigner(keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("clickid: need a key")
	}
	for i, k := range keys {
		if len(k) < 16 {
			return nil, fmt.Errorf("clickid: key %d is %d bytes; use at least 16", i+1, len(k))
		}
	}
	s := &Signer{keys: keys, now: time.Now}
	s.macs.New = func() any { return &signing{mac: hmac.New(sha256.New, s.keys[0])} }
	s.rands.New = func() any {
		var seed [32]byte
		if _, err := rand.Read(seed[:]); err != nil {
			panic(fmt.Sprintf("clickid: crypto/rand: %v", err))
		}
		return mrand.NewChaCha8(seed)
	}
	return s, nil
}

// New returns a fresh click id.
func (s *Signer) New() string {
	var buf [Length]byte
	return string(s.Append(buf[:0], s.now()))
}

// Append appends a fresh click id for time t to dst.
func (s *Signer) Append(dst []byte, t time.Time) []byte {
	var raw [16]byte
	ms := uint64(t.UnixMilli())
	raw[0], raw[1], raw[2], raw[3], raw[4], raw[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	r := s.rands.Get().(*mrand.ChaCha8)
	binary.BigEndian.PutUint64(raw[6:14], r.Uint64())
	binary.BigEndian.PutUint16(raw[14:16], uint16(r.Uint64()))
	s.rands.Put(r)

	start := len(dst)
	dst = appendULID(dst, &raw)
	sg := s.macs.Get().(*signing)
	sg.mac.Reset()
	sg.mac.Write(dst[start:])
	dst = appendTag(dst, sg.mac.Sum(sg.sum[:0]))
	s.macs.Put(sg)
	return dst
}

// Verify checks id's form and tag against every key. It accepts lower case
// and Crockford's aliases (O for 0, I and L for 1), which people and some
// systems introduce.
func (s *Signer) Verify(id string) error {
	canon, err := Canonical(id)
	if err != nil {
		return err
	}
	for _, k := range s.keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(canon[:ulidLen]))
		want := appendTag(nil, mac.Sum(nil))
		if hmac.Equal(want, []byte(canon[ulidLen:])) {
			return nil
		}
	}
	return ErrForged
}

// Canonical returns id in upper case with aliases resolved, or
// ErrMalformed. It does not check the tag.
func Canonical(id string) (string, error) {
	if len(id) != Length {
		return "", fmt.Errorf("%w: length %d, want %d", ErrMalformed, len(id), Length)
	}
	out := make([]byte, Length)
	for i := 0; i < Length; i++ {
		v := decodeTable[id[i]]
		if v == 0xFF {
			return "", fmt.Errorf("%w: character %q at %d", ErrMalformed, id[i], i)
		}
		out[i] = alpha[v]
	}
	if out[0] > '7' { // 26 chars hold 130 bits; a ULID has 128
		return "", fmt.Errorf("%w: time out of range", ErrMalformed)
	}
	return string(out), nil
}

// Time returns the time encoded in a click id (millisecond precision).
func Time(id string) (time.Time, error) {
	canon, err := Canonical(id)
	if err != nil {
		return time.Time{}, err
	}
	var ms uint64
	for i := 0; i < 10; i++ { // first 10 chars: 50 bits, top 2 are zero
		ms = ms<<5 | uint64(decodeTable[canon[i]])
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

func appendULID(dst []byte, id *[16]byte) []byte {
	// 128 bits in 26 characters: the first carries 3 bits, the rest 5 each.
	hi := binary.BigEndian.Uint64(id[0:8])
	lo := binary.BigEndian.Uint64(id[8:16])
	var out [ulidLen]byte
	for i := ulidLen - 1; i >= 0; i-- {
		out[i] = alpha[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return append(dst, out[:]...)
}

func appendTag(dst, sum []byte) []byte {
	// 40 bits of the MAC in 8 characters.
	v := uint64(sum[0])<<32 | uint64(sum[1])<<24 | uint64(sum[2])<<16 | uint64(sum[3])<<8 | uint64(sum[4])
	var out [tagLen]byte
	for i := tagLen - 1; i >= 0; i-- {
		out[i] = alpha[v&31]
		v >>= 5
	}
	return append(dst, out[:]...)
}
