package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// Issue 14, item 3: webhooks signed by the official libraries, as a sender
// uses them, are accepted under both header sets; a tampered one is not.
// The libraries are test-only dependencies (services/conversions/go.mod):
//   - Standard Webhooks' reference library for Go,
//     github.com/standard-webhooks/standard-webhooks/libraries/go
//     (https://github.com/standard-webhooks/standard-webhooks/tree/main/libraries/go):
//     NewWebhook(secret).Sign(msgID, timestamp, payload), sent under
//     webhook-id, webhook-timestamp and webhook-signature.
//   - Svix's Go library, github.com/svix/svix-webhooks/go
//     (https://github.com/svix/svix-webhooks/tree/main/go, "Webhook.Sign"),
//     sent under svix-id, svix-timestamp and svix-signature, Svix's names.
//
// Each is sent under both header sets (contract v1.1: svix-* are aliases),
// and each library first verifies what it signed, so the test uses it as
// its authors meant.
func TestOfficialLibrariesSignWhatWeAcceptAtInstant(t *testing.T) {
	t.Parallel()
	at := testkit.Now(t)
	s := setup(t, migratedDatabaseURL(t), at)
	url := s.p.Base + "/v1/webhooks/coursera"

	std, err := standardwebhooks.NewWebhook(s.secret)
	if err != nil {
		t.Fatal(err)
	}
	sx, err := svix.NewWebhook(s.secret)
	if err != nil {
		t.Fatal(err)
	}
	type signer struct {
		name   string
		prefix string // header names: "webhook" or "svix"
		sign   func(id string, ts time.Time, body []byte) (string, error)
		verify func(body []byte, h http.Header) error
	}
	signers := []signer{
		{"standard-webhooks", "webhook", std.Sign, std.Verify},
		{"svix", "svix", sx.Sign, sx.Verify},
	}
	for i, sg := range signers {
		// The library verifies what it signs under its own header names
		// (against the machine's clock, not the service's frozen one).
		wall := time.Now()
		probe := []byte(`{"probe":1}`)
		sig, err := sg.sign("msg_probe", wall, probe)
		if err != nil {
			t.Fatalf("%s: Sign: %v", sg.name, err)
		}
		h := http.Header{}
		h.Set(sg.prefix+"-id", "msg_probe")
		h.Set(sg.prefix+"-timestamp", strconv.FormatInt(wall.Unix(), 10))
		h.Set(sg.prefix+"-signature", sig)
		if err := sg.verify(probe, h); err != nil {
			t.Fatalf("%s does not verify its own headers: %v", sg.name, err)
		}
		for _, prefix := range []string{sg.prefix, map[string]string{"webhook": "svix", "svix": "webhook"}[sg.prefix]} {
			order := fmt.Sprintf("OFF-%d-%s", i, prefix)
			id := "msg_" + order
			body := s.conversionBody(order, "pending", "7.35")
			sig, err := sg.sign(id, at, body)
			if err != nil {
				t.Fatalf("%s: Sign: %v", sg.name, err)
			}
			ts := strconv.FormatInt(at.Unix(), 10)
			headers := []string{prefix + "-id", id, prefix + "-timestamp", ts, prefix + "-signature", sig, "Content-Type", "application/json"}
			check(t, sg.name+" under "+prefix+"-*", do(t, "POST", url, body, headers...), 202, "", "")
			check(t, sg.name+" under "+prefix+"-*, again", do(t, "POST", url, body, headers...), 200, "", "")

			// Tampered: one byte of the body changed after signing.
			tampered := s.conversionBody(order, "pending", "7.36")
			th := []string{prefix + "-id", id + "_t", prefix + "-timestamp", ts, prefix + "-signature", sig, "Content-Type", "application/json"}
			check(t, sg.name+" tampered body", do(t, "POST", url, tampered, th...), 401, "invalid_signature", "")
			// Tampered: the signature was made for another id.
			check(t, sg.name+" replayed under another id", do(t, "POST", url, body, th...), 401, "invalid_signature", "")
		}
	}
	got := readUntil(t, s.b, 30*time.Second, func(m map[string]received) bool {
		n := 0
		for _, c := range m {
			if len(c.OrderID) > 4 && c.OrderID[:4] == "OFF-" {
				n++
			}
		}
		return n == 4
	})
	for _, c := range got {
		if len(c.OrderID) > 4 && c.OrderID[:4] == "OFF-" && c.IdempotencyKey != "msg_"+c.OrderID {
			t.Errorf("%s keyed %q, want its id header", c.OrderID, c.IdempotencyKey)
		}
	}
}
