package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Box seals and opens secrets and digests tokens. It holds the current
// key (SECRETS_KEY), which seals and digests, and during a rotation the
// previous one (SECRETS_KEY_PREVIOUS), which still opens what it sealed
// and still matches the token digests it keyed.
type Box struct {
	keys []keySet // the current key first
}

type keySet struct {
	aead   cipher.AEAD
	macKey []byte
}

// ErrOpen is returned for a sealed value that does not open under this key.
var ErrOpen = errors.New("secret: cannot open sealed value (wrong SECRETS_KEY?)")

// NewBox takes a base64 key of 32 bytes (SECRETS_KEY) and, during a
// rotation, the keys before it (SECRETS_KEY_PREVIOUS).
func NewBox(current string, previous ...string) (*Box, error) {
	b := &Box{}
	for i, k := range append([]string{current}, previous...) {
		ks, err := newKeySet(k)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("previous key: %w", err)
			}
			return nil, err
		}
		b.keys = append(b.keys, ks)
	}
	return b, nil
}

func newKeySet(b64 string) (keySet, error) {
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawURLEncoding.DecodeString(b64)
	}
	if err != nil || len(key) != 32 {
		return keySet{}, errors.New("must be base64 of 32 random bytes (openssl rand -base64 32)")
	}
	// Separate keys for sealing and for token digests.
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("linkcredit seal v1"))
	if err != nil {
		return keySet{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keySet{}, err
	}
	return keySet{aead: aead, macKey: derive("linkcredit token digest v1")}, nil
}

// Seal encrypts plain for owner (a partner id) under the current key.
func (b *Box) Seal(owner string, plain []byte) ([]byte, error) {
	aead := b.keys[0].aead
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(owner)), nil
}

// Open decrypts a value sealed for owner under any key the box holds.
func (b *Box) Open(owner string, sealed []byte) ([]byte, error) {
	plain, _, err := b.open(owner, sealed)
	return plain, err
}

// SealedBefore reports whether a value sealed for owner opens only under
// a previous key: it must be sealed again (PUT the partner) before that
// key is dropped. A value that opens under no key is not, and Open says
// so.
func (b *Box) SealedBefore(owner string, sealed []byte) bool {
	_, i, err := b.open(owner, sealed)
	return err == nil && i > 0
}

func (b *Box) open(owner string, sealed []byte) ([]byte, int, error) {
	for i, k := range b.keys {
		n := k.aead.NonceSize()
		if len(sealed) < n {
			return nil, 0, ErrOpen
		}
		if plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(owner)); err == nil {
			return plain, i, nil
		}
	}
	return nil, 0, ErrOpen
}

// Digest is the stored form of a token: HMAC-SHA256 under the current
// key, so a dump does not even allow guessing tokens offline.
func (b *Box) Digest(owner, token string) []byte { return b.keys[0].digest(owner, token) }

func (k keySet) digest(owner, token string) []byte {
	m := hmac.New(sha256.New, k.macKey)
	m.Write([]byte(owner))
	m.Write([]byte{0})
	m.Write([]byte(token))
	return m.Sum(nil)
}

// Matches compares a presented token with a stored digest in constant
// time, under each key the box holds.
func (b *Box) Matches(owner, token string, digest []byte) bool {
	ok := false
	for _, k := range b.keys {
		ok = hmac.Equal(k.digest(owner, token), digest) || ok
	}
	return ok
}
