package conversion

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// downStore is a Store whose partner lookups fail as a database that is
// down does.
type downStore struct{ *memStore }

func (downStore) GetPartner(context.Context, string) (StoredPartner, error) {
	return StoredPartner{}, errs.New(errs.Unavailable, "database_unavailable", "the database is unavailable")
}

// goneStore is a Store whose partner lookups fail as a query does when
// the request's client has gone.
type goneStore struct{ *memStore }

func (goneStore) GetPartner(ctx context.Context, _ string) (StoredPartner, error) {
	return StoredPartner{}, fmt.Errorf("get partner: %w", ctx.Err())
}

// TestPartnerLabelIsKnownPartnersOnly: the partner label of
// conversions.requests is a partner's id only once the store has said
// the partner exists. Ids nobody registered, and any id while the store
// cannot be asked (down, or the client gone), count as "unknown": anyone
// may put anything in the path, and a label each would grow without bound.
func TestPartnerLabelIsKnownPartnersOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	up, err := Instrument(f.svc, meter)
	if err != nil {
		t.Fatal(err)
	}
	down, err := Instrument(New(Deps{Store: downStore{newMemStore()}, Box: nil}), meter)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		_, _ = up.Webhook(ctx, WebhookRequest{Partner: fmt.Sprintf("nobody-%d", i), Body: []byte(`{}`)})
		_, err := down.Webhook(ctx, WebhookRequest{Partner: fmt.Sprintf("junk-%d", i), Body: []byte(`{}`)})
		if errs.HTTPStatus(err) != 503 {
			t.Fatalf("store down: %v (%d), want a 503", err, errs.HTTPStatus(err))
		}
		_, _ = down.Postback(ctx, PostbackRequest{Partner: fmt.Sprintf("junk-%d", i), Method: "GET"})
	}
	_, _ = up.Webhook(ctx, WebhookRequest{Partner: "p", ID: "msg_1", Body: []byte(`{}`)}) // known: a 401 (no signature), labelled p
	// The sender hung up during the lookup: no server error, and no label.
	gone, err := Instrument(New(Deps{Store: goneStore{newMemStore()}}), meter)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = gone.Webhook(canceled, WebhookRequest{Partner: "junk-gone", Body: []byte(`{}`)})

	labels := map[string]int64{}
	for series, n := range testkit.Counters(t, reader)["conversions.requests"] {
		labels[series] += n
	}
	want := map[string]int64{"outcome=partner_not_found;partner=unknown;source=webhook;": 50,
		"outcome=database_unavailable;partner=unknown;source=webhook;":  50,
		"outcome=database_unavailable;partner=unknown;source=postback;": 50,
		"outcome=missing_signature;partner=p;source=webhook;":           1,
		"outcome=client_gone;partner=unknown;source=webhook;":           1}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Errorf("series %v, want %v", labels, want)
	}
}
