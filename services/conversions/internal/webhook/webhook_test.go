package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	key1 = []byte("0123456789abcdef0123456789abcdef")
	key2 = []byte("fedcba9876543210fedcba9876543210")
)

func TestVerify(t *testing.T) {
	now := time.Unix(1763632800, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"order_id":"A-1001"}`)
	good := Sign(key1, "msg_1", ts, body)
	rotated := Sign(key2, "msg_1", ts, body)
	flipped := []byte(body)
	flipped = append([]byte(nil), flipped...)
	flipped[3] ^= 1
	tests := []struct {
		name    string
		keys    [][]byte
		id, ts  string
		sig     string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", [][]byte{key1}, "msg_1", ts, good, body, now, nil},
		{"rotated: second secret", [][]byte{key1, key2}, "msg_1", ts, rotated, body, now, nil},
		{"several signatures, one valid", [][]byte{key1}, "msg_1", ts, "v1,AAAA " + rotated + " " + good, body, now, nil},
		{"unknown versions ignored", [][]byte{key1}, "msg_1", ts, "v2,xyz v1a,abc " + good, body, now, nil},
		{"wrong secret", [][]byte{key2}, "msg_1", ts, good, body, now, ErrBadSignature},
		{"one changed byte", [][]byte{key1}, "msg_1", ts, good, flipped, now, ErrBadSignature},
		{"other id", [][]byte{key1}, "msg_2", ts, good, body, now, ErrBadSignature},
		{"stale", [][]byte{key1}, "msg_1", ts, good, body, now.Add(301 * time.Second), ErrStale},
		{"future", [][]byte{key1}, "msg_1", ts, good, body, now.Add(-301 * time.Second), ErrStale},
		{"edge of tolerance", [][]byte{key1}, "msg_1", ts, good, body, now.Add(300 * time.Second), nil},
		{"timestamp not a number", [][]byte{key1}, "msg_1", "12a", good, body, now, ErrTimestamp},
		{"timestamp in ms", [][]byte{key1}, "msg_1", ts + "000", good, body, now, ErrTimestamp},
		{"no signature", [][]byte{key1}, "msg_1", ts, "", body, now, ErrNoSignature},
		{"garbage signature", [][]byte{key1}, "msg_1", ts, "v1,!!!", body, now, ErrNoSignature},
		{"no keys", nil, "msg_1", ts, good, body, now, ErrBadSignature},
	}
	for _, tt := range tests {
		err := Verify(tt.keys, tt.id, tt.ts, tt.sig, tt.body, tt.now)
		if !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

// TestVerifyTolerance: |now - webhook-timestamp| <= 300 s in whole
// seconds, the same both ways, whatever fraction of a second the clock is at.
func TestVerifyTolerance(t *testing.T) {
	const sec = 1763632800
	body := []byte(`{"order_id":"A-1001"}`)
	tests := []struct {
		name    string
		offset  int64 // webhook-timestamp minus now's whole second
		nanos   int   // now's fraction of a second
		wantErr error
	}{
		{"now", 0, 0, nil},
		{"now, late in the second", 0, 999_999_999, nil},
		{"-300 s", -300, 0, nil},
		{"-300 s, now half a second on", -300, 500_000_000, nil},
		{"-300 s, now at the end of its second", -300, 999_999_999, nil},
		{"+300 s", 300, 0, nil},
		{"+300 s, now half a second on", 300, 500_000_000, nil},
		{"+300 s, now at the end of its second", 300, 999_999_999, nil},
		{"-299 s", -299, 700_000_000, nil},
		{"+299 s", 299, 700_000_000, nil},
		{"-301 s", -301, 0, ErrStale},
		{"-301 s, now half a second on", -301, 500_000_000, ErrStale},
		{"+301 s", 301, 0, ErrStale},
		{"+301 s, now at the end of its second", 301, 999_999_999, ErrStale},
		{"an hour old", -3600, 0, ErrStale},
		{"an hour ahead", 3600, 0, ErrStale},
		{"the epoch", -sec, 0, ErrStale},
	}
	for _, tt := range tests {
		now := time.Unix(sec, int64(tt.nanos))
		ts := strconv.FormatInt(sec+tt.offset, 10)
		err := Verify([][]byte{key1}, "msg_1", ts, Sign(key1, "msg_1", ts, body), body, now)
		if !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseSecret(t *testing.T) {
	good := "whsec_" + base64.StdEncoding.EncodeToString(key1)
	if k, err := ParseSecret(good); err != nil || string(k) != string(key1) {
		t.Fatalf("ParseSecret(good) = %q, %v", k, err)
	}
	// The Standard Webhooks test vector secret.
	if _, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); err != nil {
		t.Fatalf("reference secret: %v", err)
	}
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_!!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")), "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 65)))} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}

// TestReferenceVector checks the example from the Standard Webhooks
// specification's reference libraries.
func TestReferenceVector(t *testing.T) {
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := []byte(`{"test": 2432232314}`)
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body)
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
}

func FuzzParseSignatures(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,abc")
	f.Add("v1, v2,x ,,, v1,")
	f.Fuzz(func(t *testing.T, header string) {
		for _, s := range ParseSignatures(header) {
			if len(s) != 32 {
				t.Fatalf("signature of %d bytes", len(s))
			}
		}
		_ = Verify([][]byte{key1}, "id", "1614265330", header, []byte("{}"), time.Unix(1614265330, 0))
	})
}

func FuzzParseSecret(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", []byte("0123456789abcdef"))
	f.Fuzz(func(t *testing.T, s string, key []byte) {
		if k, err := ParseSecret(s); err == nil && (len(k) < 16 || len(k) > 64) {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
		// Any key of 16 to 64 bytes, written as Standard Webhooks writes
		// it, reads back as itself.
		if len(key) < 16 || len(key) > 64 {
			return
		}
		secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
		if k, err := ParseSecret(secret); err != nil || !bytes.Equal(k, key) {
			t.Fatalf("ParseSecret(%q) = %x, %v, want %x", secret, k, err, key)
		}
	})
}
