package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestSecretsKeyRotation: SECRETS_KEY rotated with SECRETS_KEY_PREVIOUS
// set loses no delivery; the service names the partners still sealed
// under the previous key; once they are PUT again the previous key can
// go. Without it, secrets sealed under the old key do not open: 503
// secrets_unreadable, which networks retry.
func TestSecretsKeyRotation(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{10}, 32))
	postback := func(p *testkit.Process, order string) resp {
		return do(t, "GET", p.Base+"/v1/postback/coursera?token="+postbackToken+"&order_id="+order+
			"&click_id=c&status=pending&sale_amount=10.00&commission=1.50&currency=USD", nil)
	}
	s.p.Term(t)

	// The new key alone cannot open what the old one sealed.
	alone := s.start(t, map[string]string{"SECRETS_KEY": newKey})
	if r := sendTo(t, alone, "coursera", "rot-0", s.conversionBody("ROT-0", "pending", "1.00"), s.key, s.at); r.status != 503 ||
		!strings.Contains(r.body, "secrets_unreadable") {
		t.Fatalf("webhook under the new key alone = %d %s, want 503 secrets_unreadable", r.status, r.body)
	}
	alone.Term(t)

	// With the previous key: every delivery goes through, and the
	// partner still to be sealed again is named.
	rotating := s.start(t, map[string]string{"SECRETS_KEY": newKey, "SECRETS_KEY_PREVIOUS": secretsKey, "LOG_LEVEL": "info"})
	if r := sendTo(t, rotating, "coursera", "rot-1", s.conversionBody("ROT-1", "pending", "1.00"), s.key, s.at); r.status != 202 {
		t.Fatalf("webhook during the rotation = %d %s", r.status, r.body)
	}
	if r := postback(rotating, "ROT-2"); r.status != 202 {
		t.Fatalf("postback during the rotation = %d %s", r.status, r.body)
	}
	if logs := rotating.Logs(); !strings.Contains(logs, "SECRETS_KEY_PREVIOUS") || !strings.Contains(logs, "coursera") {
		t.Errorf("the partner sealed under the previous key is not named:\n%s", logs)
	}
	// PUT again: sealed and digested under the new key.
	s.p = rotating
	s.putPartner(t, "coursera", fmt.Sprintf(`{"name":"Coursera","webhook_secrets":[%q],"postback_token":%q,"currency":"USD"}`,
		s.secret, postbackToken), 200)
	rotating.Term(t)

	done := s.start(t, map[string]string{"SECRETS_KEY": newKey})
	if r := sendTo(t, done, "coursera", "rot-3", s.conversionBody("ROT-3", "pending", "1.00"), s.key, s.at); r.status != 202 {
		t.Fatalf("webhook after the rotation = %d %s", r.status, r.body)
	}
	if r := postback(done, "ROT-4"); r.status != 202 {
		t.Fatalf("postback after the rotation = %d %s", r.status, r.body)
	}
}

// A malformed SECRETS_KEY_PREVIOUS, or one equal to SECRETS_KEY, stops
// start-up with the variable named.
func TestPreviousKeyRefusedAtStart(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"short", base64.StdEncoding.EncodeToString(make([]byte, 16)), secretsKey} {
		env := map[string]string{"ADMIN_TOKEN": adminToken, "SECRETS_KEY": secretsKey, "SECRETS_KEY_PREVIOUS": v}
		err := run(context.Background(), clock.Fixed(time.Unix(0, 0)), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SECRETS_KEY_PREVIOUS") {
			t.Errorf("SECRETS_KEY_PREVIOUS=%s: %v, want a refusal naming it", v, err)
		}
	}
}
