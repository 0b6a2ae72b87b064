package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

var key = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

func TestSealOpen(t *testing.T) {
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := b.Seal("coursera", []byte("whsec_abc"))
	if bytes.Contains(sealed, []byte("whsec_abc")) {
		t.Fatal("sealed value contains the plain text")
	}
	if got, err := b.Open("coursera", sealed); err != nil || string(got) != "whsec_abc" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open("edx", sealed); !errors.Is(err, ErrOpen) {
		t.Fatal("a secret sealed for one partner opened for another")
	}
	other, _ := NewBox(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)))
	if _, err := other.Open("coursera", sealed); !errors.Is(err, ErrOpen) {
		t.Fatal("opened under another key")
	}
	if _, err := b.Open("coursera", []byte{1, 2}); !errors.Is(err, ErrOpen) {
		t.Fatal("short value opened")
	}
}

func TestDigest(t *testing.T) {
	b, _ := NewBox(key)
	d := b.Digest("coursera", "tok")
	if !b.Matches("coursera", "tok", d) || b.Matches("coursera", "tok2", d) || b.Matches("edx", "tok", d) {
		t.Fatal("token digest comparison is wrong")
	}
}

func TestBadKeys(t *testing.T) {
	for _, k := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := NewBox(k); err == nil {
			t.Errorf("NewBox(%q) accepted", k)
		}
	}
}
