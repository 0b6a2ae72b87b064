package session

import (
	"strings"
	"testing"
)

func TestIDRoundTrip(t *testing.T) {
	seen := map[ID]bool{}
	for range 100 {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatal("a repeated id")
		}
		seen[id] = true
		s := id.String()
		if len(s) != IDLength || IDLength != 43 {
			t.Fatalf("id %q: length %d, want 43", s, len(s))
		}
		back, ok := ParseID(s)
		if !ok || back != id {
			t.Fatalf("ParseID(%q) = %v, %v", s, back, ok)
		}
		if !id.CheckCSRF(id.CSRFToken()) || id.CheckCSRF("") || id.CheckCSRF(strings.Repeat("A", 43)) {
			t.Fatal("CSRF check")
		}
	}
}

func TestParseIDRefuses(t *testing.T) {
	id, _ := NewID()
	good := id.String()
	for _, s := range []string{"", "x", good + "=", good[:42], good + "A", strings.Repeat("+", 43), strings.Repeat("/", 43),
		good[:42] + "\x00", good[:42] + "\xc3", good[:41] + "==", " " + good[1:], "test-finance-token-0123456789abcdefghij12"} {
		if _, ok := ParseID(s); ok {
			t.Errorf("ParseID(%q) accepted", s)
		}
	}
	// The last character carries 4 unused bits: "A" and "B" decode alike
	// without Strict; only the canonical one is an id.
	var zero ID
	z := zero.String()
	if _, ok := ParseID(z[:42] + "B"); ok {
		t.Errorf("a non-canonical id was accepted")
	}
	if _, ok := ParseID(z); !ok {
		t.Errorf("the zero id's text was refused")
	}
}

// FuzzParseID: any cookie value either is refused or round-trips exactly.
func FuzzParseID(f *testing.F) {
	id, _ := NewID()
	f.Add(id.String())
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("A", 42) + "B")
	f.Add("linkcredit-test-finance-token-0123456789ab")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseID(s)
		if !ok {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) accepted, but its id reads %q", s, id.String())
		}
	})
}
