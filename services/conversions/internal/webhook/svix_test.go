package webhook

import (
	"errors"
	"testing"
	"time"
)

// Svix's documented example, checked the way a Svix receiver checks it.
// Source: Svix, "How to Verify Webhooks with the Svix Libraries",
// https://docs.svix.com/receiving/verifying-payloads/how (the secret, the
// svix-id, svix-timestamp and svix-signature headers and the payload of
// its code sample; the same values are the Standard Webhooks test vector).
// Svix signs with the Standard Webhooks scheme (https://www.standardwebhooks.com:
// v1,base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))), so its headers
// are the webhook-* ones under another name. The process test
// TestSvixHeaders sends this example over HTTP.
const (
	svixSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	svixID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	svixTimestamp = "1614265330"
	svixSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	svixPayload   = `{"test": 2432232314}`
)

func TestSvixDocumentedExample(t *testing.T) {
	key, err := ParseSecret(svixSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, svixID, svixTimestamp, []byte(svixPayload)); got != svixSignature {
		t.Fatalf("Sign = %s, want Svix's %s", got, svixSignature)
	}
	sent := time.Unix(1614265330, 0)
	tests := []struct {
		name    string
		now     time.Time
		sig     string
		body    string
		wantErr error
	}{
		{"as sent", sent, svixSignature, svixPayload, nil},
		{"five minutes later", sent.Add(Tolerance), svixSignature, svixPayload, nil},
		{"a second too late", sent.Add(Tolerance + time.Second), svixSignature, svixPayload, ErrStale},
		{"beside a rotated secret's signature", sent, "v1,bm90IGEgc2lnbmF0dXJlIG9mIHRoaXMgbWVzc2FnZSE= " + svixSignature, svixPayload, nil},
		{"body re-serialised", sent, svixSignature, `{"test":2432232314}`, ErrBadSignature},
	}
	for _, tt := range tests {
		err := Verify([][]byte{key}, svixID, svixTimestamp, tt.sig, []byte(tt.body), tt.now)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}
