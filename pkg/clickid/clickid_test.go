package clickid

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func signer(t testing.TB, keys ...string) *Signer {
	t.Helper()
	var kb [][]byte
	for _, k := range keys {
		kb = append(kb, []byte(k))
	}
	s, err := NewSigner(kb...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewIsVerifiableURLSafeAndSortable(t *testing.T) {
	s := signer(t, "0123456789abcdef-key-one")
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 1000 {
		ids = append(ids, string(s.Append(nil, base.Add(time.Duration(i)*time.Millisecond))))
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if len(id) != Length || strings.Trim(id, alpha) != "" {
			t.Fatalf("id %q is not %d Crockford characters", id, Length)
		}
		if err := s.Verify(id); err != nil {
			t.Fatalf("Verify(%q) = %v", id, err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if got, _ := Time(id); !got.Equal(base.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("Time(%q) = %v", id, got)
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids are not sorted by time")
	}
}

func TestVerifyRejectsForgedAndMangled(t *testing.T) {
	s := signer(t, "0123456789abcdef-key-one")
	id := s.New()
	flip := func(i int) string {
		b := []byte(id)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name string
		id   string
		want error
	}{
		{"valid", id, nil},
		{"lower case", strings.ToLower(id), nil},
		{"changed time", flip(3), ErrForged},
		{"changed random", flip(20), ErrForged},
		{"changed tag", flip(Length - 1), ErrForged},
		{"truncated", id[:Length-1], ErrMalformed},
		{"extra", id + "0", ErrMalformed},
		{"bad character", id[:5] + "U" + id[6:], ErrMalformed},
		{"punctuation", id[:5] + "-" + id[6:], ErrMalformed},
		{"empty", "", ErrMalformed},
		{"other key", signer(t, "another-key-0123456789").New(), ErrForged},
	}
	for _, tt := range tests {
		if err := s.Verify(tt.id); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestRotation(t *testing.T) {
	old := signer(t, "old-key-0123456789abc")
	rotated := signer(t, "new-key-0123456789abc", "old-key-0123456789abc")
	if err := rotated.Verify(old.New()); err != nil {
		t.Fatalf("an id signed with the old key fails after rotation: %v", err)
	}
	if err := old.Verify(rotated.New()); !errors.Is(err, ErrForged) {
		t.Fatalf("new-key id verified with only the old key: %v", err)
	}
}

func TestShortKeyRefused(t *testing.T) {
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s := signer(f, "0123456789abcdef-key-one")
	f.Add(s.New())
	f.Add(strings.ToLower(s.New()))
	f.Add("")
	f.Add(strings.Repeat("Z", Length))
	f.Fuzz(func(t *testing.T, id string) {
		err := s.Verify(id)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrForged) {
			t.Fatalf("undocumented error %v", err)
		}
		if err == nil {
			canon, cerr := Canonical(id)
			if cerr != nil || s.Verify(canon) != nil {
				t.Fatalf("%q verifies but its canonical form does not", id)
			}
		}
	})
}

func BenchmarkNew(b *testing.B) {
	s := signer(b, "0123456789abcdef-key-one")
	buf := make([]byte, 0, Length)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := append([]byte(nil), buf...)
		for pb.Next() {
			buf = s.Append(buf[:0], now)
		}
	})
}
