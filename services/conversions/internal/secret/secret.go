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

// Box seals and opens secrets and digests tokens.
type Box struct {
	aead   cipher.AEAD
	macKey []byte
}

// ErrOpen is returned for a sealed value that does not open under this key.
var ErrOpen = errors.New("secret: cannot open sealed value (wrong SECRETS_KEY?)")

// NewBox takes a base64 key of 32 bytes (SECRETS_KEY).
func NewBox(b64 string) (*Box, error) {
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawURLEncoding.DecodeString(b64)
	}
	if err != nil || len(key) != 32 {
		return nil, errors.New("must be base64 of 32 random bytes (openssl rand -base64 32)")
	}
	// Separate keys for sealing and for token digests.
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("linkcredit seal v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, macKey: derive("linkcredit token digest v1")}, nil
}

// Seal encrypts plain for owner (a partner id).
func (b *Box) Seal(owner string, plain []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plain, []byte(owner)), nil
}

// Open decrypts a value sealed for owner.
func (b *Box) Open(owner string, sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(owner))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Digest is the stored form of a token: HMAC-SHA256 under the box's key,
// so a dump does not even allow guessing tokens offline.
func (b *Box) Digest(owner, token string) []byte {
	m := hmac.New(sha256.New, b.macKey)
	m.Write([]byte(owner))
	m.Write([]byte{0})
	m.Write([]byte(token))
	return m.Sum(nil)
}

// Matches compares a presented token with a stored digest in constant time.
func (b *Box) Matches(owner, token string, digest []byte) bool {
	return hmac.Equal(b.Digest(owner, token), digest)
}
