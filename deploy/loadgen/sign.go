package loadgen

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// NewSecret returns a fresh Standard Webhooks secret, whsec_<base64 key>.
func NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature header value for a delivery: v1,
// then base64 HMAC-SHA256 under the secret's key of "id.timestamp.body".
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	s, err := newWebhookSigner(secret)
	if err != nil {
		return "", err
	}
	return string(s.appendSignature(nil, id, timestamp, body)), nil
}

// webhookSigner signs deliveries under one secret's key, decoded once. It is not
// safe for concurrent use: each worker holds its own.
type webhookSigner struct {
	mac hash.Hash
	buf []byte
}

func newWebhookSigner(secret string) (*webhookSigner, error) {
	key, err := webhookKey(secret)
	if err != nil {
		return nil, err
	}
	return signerFor(key), nil
}

// webhookKey is the HMAC key of a whsec_<base64> secret.
func webhookKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 || !strings.HasPrefix(secret, "whsec_") {
		return nil, fmt.Errorf("secret must be whsec_<base64>")
	}
	return key, nil
}

func signerFor(key []byte) *webhookSigner { return &webhookSigner{mac: hmac.New(sha256.New, key)} }

// appendSignature appends Sign's value for a delivery to dst.
func (s *webhookSigner) appendSignature(dst []byte, id string, timestamp int64, body []byte) []byte {
	s.buf = append(append(s.buf[:0], id...), '.')
	s.buf = append(strconv.AppendInt(s.buf, timestamp, 10), '.')
	s.mac.Reset()
	s.mac.Write(s.buf)
	s.mac.Write(body)
	var sum [sha256.Size]byte
	return base64.StdEncoding.AppendEncode(append(dst, "v1,"...), s.mac.Sum(sum[:0]))
}
