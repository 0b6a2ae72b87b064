package conversion

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// downStore is a Store whose partner lookups fail as a database that is
// down does.
type downStore struct{ *memStore }

func (downStore) GetPartner(context.Context, string) (StoredPartner, error) {
	return StoredPartner{}, errs.New(errs.Unavailable, "database_unavailable", "the database is unavailable")
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

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	labels := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "conversions.requests" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("partner")
				o, _ := dp.Attributes.Value("outcome")
				labels[v.AsString()+" "+o.AsString()] += dp.Value
			}
		}
	}
	want := map[string]int64{"unknown partner_not_found": 50, "unknown database_unavailable": 100, "p missing_signature": 1}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Errorf("series %v, want %v", labels, want)
	}
}
