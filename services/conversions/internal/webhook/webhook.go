package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors Verify returns.
var (
	ErrNoSignature  = errors.New("the webhook-signature header has no well-formed v1 signature")
	ErrBadSignature = errors.New("no signature matches an active secret")
	ErrTimestamp    = errors.New("webhook-timestamp is not unix seconds")
	ErrStale        = errors.New("webhook-timestamp is outside the tolerance")
	ErrSecret       = errors.New("a webhook secret must be whsec_ followed by base64 of 16 to 64 bytes")
)

// Tolerance is how far webhook-timestamp may be from now, either way,
// both ends included.
const Tolerance = 5 * time.Minute

// ParseSecret decodes "whsec_<base64>" into the HMAC key.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, ErrSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return nil, ErrSecret
		}
	}
	if len(key) < 16 || len(key) > 64 {
		return nil, ErrSecret
	}
	return key, nil
}

// ParseSignatures returns the decoded v1 signatures of a webhook-signature
// header; other versions and malformed entries are skipped.
func ParseSignatures(header string) [][]byte {
	var sigs [][]byte
	for _, part := range strings.Fields(header) {
		version, b64, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		sig, err := base64.StdEncoding.Strict().DecodeString(b64) // strict: one encoding per MAC, as the specification's libraries compare them
		if err != nil || len(sig) != sha256.Size {
			continue
		}
		sigs = append(sigs, sig)
	}
	return sigs
}

// ParseTimestamp reads webhook-timestamp.
func ParseTimestamp(s string) (time.Time, error) {
	sec, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return time.Time{}, ErrTimestamp
	}
	return time.Unix(sec, 0), nil
}

// Sign returns the v1 signature of a message, "v1,<base64>".
func Sign(key []byte, id, timestamp string, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp, body))
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery against the active keys at time now. Every
// signature is compared against every key, in constant time, so timing
// tells nothing about which one was close.
func Verify(keys [][]byte, id, timestamp, signatureHeader string, body []byte, now time.Time) error {
	ts, err := ParseTimestamp(timestamp)
	if err != nil {
		return err
	}
	// In whole seconds, as the Standard Webhooks reference libraries
	// compare: the header has no fraction, so now's is dropped too, and
	// exactly Tolerance before or after is accepted alike (a sub-second now
	// used to refuse -300 s and accept +300 s).
	tol := int64(Tolerance / time.Second)
	if d := now.Unix() - ts.Unix(); d > tol || d < -tol {
		return ErrStale
	}
	sigs := ParseSignatures(signatureHeader)
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	ok := 0
	for _, k := range keys {
		want := mac(k, id, timestamp, body)
		for _, s := range sigs {
			if hmac.Equal(want, s) {
				ok = 1
			}
		}
	}
	if ok == 0 {
		return ErrBadSignature
	}
	return nil
}
