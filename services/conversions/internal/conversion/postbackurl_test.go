package conversion

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
)

func TestPostbackURLToken(t *testing.T) {
	f := newFixture(t, "")
	svc := f.svc.(*service)
	svc.deps.PublicBaseURL = "https://pb.example.com"
	ctx := context.Background()
	tok := token
	if _, _, err := svc.PutPartner(ctx, PartnerInput{ID: "aw", Name: "Awin", Currency: "GBP", Adapter: "awin", PostbackToken: &tok}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.PutPartner(ctx, PartnerInput{ID: "notoken", Name: "No token", Currency: "USD", Adapter: "impact"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, partner, token string
		prefix               string // "" refused
		err                  error
	}{
		{"placeholder", "aw", "", "https://pb.example.com/v1/postback/aw?token=" + adapter.TokenPlaceholder + "&transactionId=!!!transactionId!!!", nil},
		{"the partner's token", "aw", token, "https://pb.example.com/v1/postback/aw?token=" + token + "&", nil},
		{"another token", "aw", "pb-token-somebody-else", "", ErrTokenMismatch},
		{"a partner without a token", "notoken", token, "", ErrTokenMismatch},
		{"a partner without a token, placeholder", "notoken", "", "https://pb.example.com/v1/postback/notoken?token=" + adapter.TokenPlaceholder + "&action_id={ActionId}", nil},
		{"unknown partner", "nobody", "", "", ErrPartnerNotFound},
	}
	for _, tt := range tests {
		got, err := svc.PostbackURL(ctx, PostbackURLRequest{Partner: tt.partner, Token: tt.token})
		if tt.err != nil {
			if !errors.Is(err, tt.err) && errs.HTTPStatus(err) != errs.HTTPStatus(tt.err) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Errorf("%s: the error repeats the token", tt.name)
			}
			continue
		}
		if err != nil || !strings.HasPrefix(got.URL, tt.prefix) || got.Partner != tt.partner {
			t.Errorf("%s: %+v, %v; want %s…", tt.name, got, err, tt.prefix)
		}
	}
}

// TestJSONPostbackReplays: a postback with a JSON body is stored with its
// body and decodes again the same in a replay.
func TestJSONPostbackReplays(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	tok := token
	if _, _, err := f.svc.PutPartner(ctx, PartnerInput{ID: "ps", Name: "PartnerStack", Currency: "USD", Adapter: "partnerstack", PostbackToken: &tok}); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event":"reward_created","data":{"key":"rwrd_1","amount":1234,"currency":"USD","status":"pending","created_at":1700000000000}}`)
	req := PostbackRequest{Partner: "ps", Method: "POST", Params: url.Values{"token": {token}}, JSON: body}
	r, err := f.svc.Postback(ctx, req)
	if err != nil || r.Duplicate {
		t.Fatalf("%+v, %v", r, err)
	}
	if r, err := f.svc.Postback(ctx, req); err != nil || !r.Duplicate {
		t.Fatalf("again: %+v, %v", r, err)
	}
	other := req
	other.JSON = []byte(`{"event":"reward_updated","data":{"key":"rwrd_1","amount":1234,"currency":"USD","status":"approved","created_at":1700000000000}}`)
	if r, err := f.svc.Postback(ctx, other); err != nil || r.Duplicate || r.EventID == "" {
		t.Fatalf("the update: %+v, %v", r, err)
	}
	var stored InboxEntry
	for _, e := range f.store.inbox {
		if e.Partner == "ps" && strings.Contains(string(e.Body), "reward_created") {
			stored = e
		}
	}
	if stored.Query != "" || strings.Contains(string(stored.Body), token) {
		t.Fatalf("stored %+v", stored)
	}
	rp := &Replayer{s: f.svc.(*service)}
	msg, err := rp.Event(ctx, StoredRequest{Partner: "ps", IdempotencyKey: stored.IdempotencyKey, EventID: stored.EventID,
		Source: stored.Source, Query: stored.Query, Body: stored.Body, ReceivedAt: stored.ReceivedAt}, "run1")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.DecodeConversion(msg.Value)
	if err != nil || ev.Commission != "12.34" || ev.OrderID != "rwrd_1" || ev.Status != "pending" || ev.ReplayOf != stored.EventID {
		t.Fatalf("replayed %+v, %v", ev, err)
	}
}
