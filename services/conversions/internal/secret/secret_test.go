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

// A rotation: the new key seals and digests; the previous one still opens
// and matches what it made, and says which values must be sealed again.
func TestRotation(t *testing.T) {
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	old, _ := NewBox(key)
	sealedOld, _ := old.Seal("coursera", []byte("whsec_old"))
	digestOld := old.Digest("coursera", "tok")

	b, err := NewBox(newKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open("coursera", sealedOld); err != nil || string(got) != "whsec_old" {
		t.Fatalf("Open of a value the previous key sealed = %q, %v", got, err)
	}
	if !b.SealedBefore("coursera", sealedOld) {
		t.Error("a value only the previous key opens is not reported as sealed before")
	}
	if !b.Matches("coursera", "tok", digestOld) || b.Matches("coursera", "tok2", digestOld) {
		t.Error("a digest the previous key made does not match its token, or matches another")
	}
	sealedNew, _ := b.Seal("coursera", []byte("whsec_new"))
	if b.SealedBefore("coursera", sealedNew) {
		t.Error("a value the current key sealed is reported as sealed before")
	}
	onlyNew, _ := NewBox(newKey)
	if got, err := onlyNew.Open("coursera", sealedNew); err != nil || string(got) != "whsec_new" {
		t.Fatalf("the current key alone does not open what it sealed: %q, %v", got, err)
	}
	if !onlyNew.Matches("coursera", "tok", b.Digest("coursera", "tok")) {
		t.Error("a digest made during the rotation does not match under the current key alone")
	}
	if _, err := onlyNew.Open("coursera", sealedOld); !errors.Is(err, ErrOpen) {
		t.Error("the current key alone opened what only the previous one sealed")
	}
	if onlyNew.SealedBefore("coursera", sealedOld) {
		t.Error("a value no key opens is reported as sealed before")
	}
	if _, err := NewBox(newKey, "short"); err == nil {
		t.Error("a bad previous key was accepted")
	}
}
