package conversion

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/conversions/internal/secret"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// hungStore is a memStore whose database does not answer: the hung calls
// return only when their context ends, as the postgres Store does then.
type hungStore struct {
	*memStore
	getHangs, acceptHangs bool
	deadlines             chan time.Time // of each hung call's context
}

func (h *hungStore) hang(ctx context.Context) error {
	d, _ := ctx.Deadline()
	h.deadlines <- d
	<-ctx.Done()
	return errs.Wrap(errs.Unavailable, "not_durable", "the event could not be stored; retry later", ctx.Err())
}

func (h *hungStore) GetPartner(ctx context.Context, id string) (StoredPartner, error) {
	if h.getHangs {
		return StoredPartner{}, h.hang(ctx)
	}
	return h.memStore.GetPartner(ctx, id)
}

func (h *hungStore) Accept(ctx context.Context, in InboxEntry, build MessageBuilder) (Receipt, error) {
	if h.acceptHangs {
		return Receipt{}, h.hang(ctx)
	}
	return h.memStore.Accept(ctx, in, build)
}

// TestAStoreThatDoesNotAnswerIsA503: a webhook or postback waits for the
// store at most AcceptTimeout, its partner's lookup included, then is
// answered 503 (the partner retries), with nothing stored.
func TestAStoreThatDoesNotAnswerIsA503(t *testing.T) {
	const timeout = 20 * time.Millisecond
	f := newFixture(t, "")
	box, err := secret.NewBox(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	send := map[string]func(Service, string) error{
		"webhook": func(s Service, id string) error {
			body := []byte(`{"order_id":"A-` + id + `","status":"approved","sale_amount":"10.00","commission":"1.00","currency":"USD","occurred_at":"2026-11-20T10:00:00Z"}`)
			ts := strconv.FormatInt(now.Unix(), 10)
			_, err := s.Webhook(context.Background(), WebhookRequest{Partner: "p", ID: id, Timestamp: ts,
				Signature: webhook.Sign(f.key, id, ts, body), Body: body})
			return err
		},
		"postback": func(s Service, id string) error {
			_, err := s.Postback(context.Background(), PostbackRequest{Partner: "p", Method: "GET", Params: url.Values{
				"token": {token}, "order_id": {"B-" + id}, "status": {"approved"}, "sale_amount": {"10.00"}, "commission": {"1.00"}}})
			return err
		},
	}
	tests := []struct {
		name                  string
		getHangs, acceptHangs bool
	}{
		{"partner lookup hangs", true, false},
		{"accept hangs", false, true},
	}
	n := 0
	for _, tc := range tests {
		for kind, do := range send {
			n++
			store := &hungStore{memStore: f.store, getHangs: tc.getHangs, acceptHangs: tc.acceptHangs, deadlines: make(chan time.Time, 1)}
			// A service of its own: an empty partner cache, so the lookup
			// reaches the store.
			svc := New(Deps{Store: store, Box: box, Now: clock.Fixed(now), AcceptTimeout: timeout})
			before := f.store.stored()
			start := time.Now()
			err := do(svc, strconv.Itoa(n))
			if errs.HTTPStatus(err) != 503 {
				t.Errorf("%s, %s: %v (%d), want a 503", tc.name, kind, err, errs.HTTPStatus(err))
			}
			if f.store.stored() != before {
				t.Errorf("%s, %s: something was stored", tc.name, kind)
			}
			select {
			case d := <-store.deadlines:
				// Set from AcceptTimeout when the request began, not from the
				// server's write timeout: a second's slack for scheduling.
				if d.IsZero() || d.After(start.Add(timeout+time.Second)) {
					t.Errorf("%s, %s: the store's context ends %v after the request began, want about %v", tc.name, kind, d.Sub(start), timeout)
				}
			default:
				t.Errorf("%s, %s: the store was not called", tc.name, kind)
			}
		}
	}
}
