package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
)

// idBytes is the id's entropy: 256 bits, well past the 128 an unguessable
// session id needs.
const idBytes = 32

// IDLength is the length of an id's text form (unpadded base64url).
var IDLength = base64.RawURLEncoding.EncodedLen(idBytes)

// ID is a session's secret: only the browser holds it; the server keeps
// its Digest.
type ID [idBytes]byte

// Digest is what the server stores for an ID.
type Digest [sha256.Size]byte

// NewID returns a fresh random id from crypto/rand.
func NewID() (ID, error) {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		return ID{}, fmt.Errorf("session: random id: %w", err)
	}
	return id, nil
}

// String is the id's cookie form.
func (id ID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// Digest is the SHA-256 of the id: a database dump holds no usable id.
func (id ID) Digest() Digest { return sha256.Sum256(id[:]) }

// CSRFToken is the anti-forgery token of the session's forms: an HMAC of
// a fixed label keyed by the id, so only a page rendered for the cookie's
// holder carries it, and the server needs nothing stored to check it.
func (id ID) CSRFToken() string {
	m := hmac.New(sha256.New, id[:])
	m.Write([]byte("linkcredit dashboard csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether token is the id's CSRF token, in constant time.
func (id ID) CheckCSRF(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(id.CSRFToken())) == 1
}

// ParseID reads an id's cookie form: exactly IDLength characters of
// unpadded base64url, in their canonical encoding. Anything else (another
// length, padding, other characters, non-canonical trailing bits) is not
// an id.
func ParseID(s string) (ID, bool) {
	if len(s) != IDLength {
		return ID{}, false
	}
	var id ID
	n, err := base64.RawURLEncoding.Strict().Decode(id[:], []byte(s))
	if err != nil || n != idBytes {
		return ID{}, false
	}
	return id, true
}
