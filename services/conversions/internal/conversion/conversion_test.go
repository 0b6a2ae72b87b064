package conversion

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
	"github.com/linkcredit/linkcredit/services/conversions/internal/secret"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// memStore is a Store in memory.
type memStore struct {
	mu       sync.Mutex
	partners map[string]StoredPartner
	inbox    map[string]InboxEntry // partner "\x00" key
	outbox   []OutboxMessage
	seq      int64
}

func newMemStore() *memStore {
	return &memStore{partners: map[string]StoredPartner{}, inbox: map[string]InboxEntry{}}
}

func (m *memStore) PutPartner(_ context.Context, p StoredPartner) (StoredPartner, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, exists := m.partners[p.ID]
	if p.SealedSecrets == nil {
		p.SealedSecrets = old.SealedSecrets
	}
	if p.TokenDigest == nil {
		p.TokenDigest = old.TokenDigest
	}
	p.CreatedAt = p.UpdatedAt
	if exists {
		p.CreatedAt = old.CreatedAt
	}
	m.partners[p.ID] = p
	return p, !exists, nil
}

func (m *memStore) GetPartner(_ context.Context, id string) (StoredPartner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.partners[id]
	if !ok {
		return p, ErrPartnerNotFound
	}
	return p, nil
}

func (m *memStore) ListPartners(context.Context) ([]StoredPartner, error) { return nil, nil }

func (m *memStore) Accept(_ context.Context, in InboxEntry, build MessageBuilder) (Receipt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := in.Partner + "\x00" + in.IdempotencyKey
	if old, ok := m.inbox[k]; ok {
		if !bytes.Equal(old.BodyHash, in.BodyHash) {
			return Receipt{}, ErrIdempotencyConflict
		}
		return Receipt{EventID: old.EventID, Duplicate: true}, nil
	}
	m.seq++
	msg, err := build(m.seq)
	if err != nil {
		return Receipt{}, err
	}
	m.inbox[k] = in
	m.outbox = append(m.outbox, msg)
	return Receipt{EventID: in.EventID}, nil
}

func (m *memStore) stored() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.inbox)
}

const token = "pb-token-0123456789abcdef"

// fixture is a service over a memStore with the partner "p" in USD, its
// webhook key and its postback token.
type fixture struct {
	svc   Service
	store *memStore
	key   []byte
}

func newFixture(t testing.TB, maxAmount string) *fixture {
	t.Helper()
	box, err := secret.NewBox(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	svc := New(Deps{Store: store, Box: box, Now: clock.Fixed(now)})
	key := bytes.Repeat([]byte{3}, 32)
	sec := "whsec_" + base64.StdEncoding.EncodeToString(key)
	tok := token
	if _, _, err := svc.PutPartner(context.Background(), PartnerInput{ID: "p", Name: "P", Currency: "USD", MaxAmount: maxAmount,
		WebhookSecrets: []string{sec}, PostbackToken: &tok}); err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: store, key: key}
}

func (f *fixture) webhook(id string, body []byte) (Receipt, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	return f.svc.Webhook(context.Background(), WebhookRequest{Partner: "p", ID: id, Timestamp: ts,
		Signature: webhook.Sign(f.key, id, ts, body), Body: body})
}

func (f *fixture) postback(params url.Values) (Receipt, error) {
	params.Set("token", token)
	return f.svc.Postback(context.Background(), PostbackRequest{Partner: "p", Method: "GET", Params: params})
}

func TestPutPartnerMaxAmount(t *testing.T) {
	tests := []struct {
		name, currency, maxAmount string
		want                      string // the max_amount shown, "" refused
	}{
		{"default", "USD", "", "1000000.00"},
		{"default JPY", "JPY", "", "1000000"},
		{"default BHD", "BHD", "", "1000000.000"},
		{"set", "USD", "2500.50", "2500.50"},
		{"trailing zeros", "JPY", "5000.00", "5000"},
		{"schema ceiling", "USD", "10000000000.00", "10000000000.00"},
		{"above the schema ceiling", "USD", "10000000000.01", ""},
		{"near int64", "USD", "92233720368547758.07", ""},
		{"zero", "USD", "0.00", ""},
		{"negative", "USD", "-1.00", ""},
		{"too precise", "USD", "1.001", ""},
		{"not a number", "USD", "lots", ""},
	}
	f := newFixture(t, "")
	for _, tt := range tests {
		p, _, err := f.svc.PutPartner(context.Background(), PartnerInput{ID: "x", Name: "X", Currency: tt.currency, MaxAmount: tt.maxAmount})
		if tt.want == "" {
			if fields := errs.FieldsOf(err); errs.HTTPStatus(err) != 422 || len(fields) != 1 || fields[0].Field != "max_amount" {
				t.Errorf("%s: %v, want 422 naming max_amount", tt.name, err)
			}
			continue
		}
		if err != nil || p.MaxAmount != tt.want {
			t.Errorf("%s: %+v, %v; want max_amount %s", tt.name, p, err, tt.want)
			continue
		}
		if got, err := f.svc.GetPartner(context.Background(), "x"); err != nil || got.MaxAmount != tt.want {
			t.Errorf("%s: GET shows %q, %v", tt.name, got.MaxAmount, err)
		}
	}
}

// TestPartnerLimits: each limit at its boundary, through the service, for
// webhooks and postbacks; nothing refused is stored.
func TestPartnerLimits(t *testing.T) {
	f := newFixture(t, "500.00")
	at128, at129 := strings.Repeat("k", 128), strings.Repeat("k", 129)
	body := func(field, value string) []byte {
		v := map[string]string{"order_id": "A-1", "status": "approved", "sale_amount": "10.00", "commission": "1.00",
			"occurred_at": "2026-11-20T10:00:00Z"}
		v[field] = value
		var b bytes.Buffer
		b.WriteString("{")
		first := true
		for k, val := range v {
			if !first {
				b.WriteString(",")
			}
			first = false
			b.WriteString(strconv.Quote(k) + ":" + strconv.Quote(val))
		}
		b.WriteString("}")
		return b.Bytes()
	}
	n := 0
	tests := []struct {
		name, id, field, value string
		code                   string // "" accepted
	}{
		{"webhook-id 128", at128, "order_id", "A-1", ""},
		{"webhook-id 129", at129, "order_id", "A-1", "field_too_long"},
		{"webhook-id not UTF-8", "\xff\xfe", "order_id", "A-1", "invalid_value"},
		{"order_id 128", "", "order_id", at128, ""},
		{"order_id 129", "", "order_id", at129, "field_too_long"},
		{"click_id 129", "", "click_id", at129, "field_too_long"},
		{"course_id 129", "", "course_id", at129, "field_too_long"},
		{"reason_code 129", "", "reason_code", at129, "field_too_long"},
		{"status 129", "", "status", at129, "field_too_long"},
		{"commission at max_amount", "", "commission", "500.00", ""},
		{"commission a cent above", "", "commission", "500.01", "amount_too_large"},
		{"sale a cent above", "", "sale_amount", "500.01", "amount_too_large"},
		{"sale near int64", "", "sale_amount", "92233720368547758.07", "amount_too_large"},
	}
	for _, tt := range tests {
		n++
		id := tt.id
		if id == "" {
			id = "msg_" + strconv.Itoa(n)
		}
		before := f.store.stored()
		_, err := f.webhook(id, body(tt.field, tt.value))
		checkOutcome(t, "webhook "+tt.name, err, tt.code, f.store.stored()-before)

		if tt.id != "" {
			continue // webhooks only
		}
		params := url.Values{"order_id": {"PB-" + strconv.Itoa(n)}, "status": {"approved"}, "sale_amount": {"10.00"}, "commission": {"1.00"}}
		params.Set(tt.field, tt.value)
		before = f.store.stored()
		_, err = f.postback(params)
		checkOutcome(t, "postback "+tt.name, err, tt.code, f.store.stored()-before)
	}
	for _, tt := range []struct {
		name, value, code string
	}{{"event_id 128", strings.Repeat("e", 128), ""}, {"event_id 129", strings.Repeat("e", 129), "field_too_long"}, {"event_id not UTF-8", "\xff", "invalid_value"}} {
		before := f.store.stored()
		_, err := f.postback(url.Values{"order_id": {"E"}, "status": {"approved"}, "sale_amount": {"1"}, "commission": {"1"}, "event_id": {tt.value}})
		checkOutcome(t, "postback "+tt.name, err, tt.code, f.store.stored()-before)
	}
}

func checkOutcome(t *testing.T, name string, err error, wantCode string, stored int) {
	t.Helper()
	if wantCode == "" {
		if err != nil || stored != 1 {
			t.Errorf("%s: %v, %d stored; want accepted", name, err, stored)
		}
		return
	}
	if code, _ := errs.Public(err); errs.HTTPStatus(err) != 422 || code != wantCode || stored != 0 {
		t.Errorf("%s: %v (%d %s), %d stored; want 422 %s and nothing stored", name, err, errs.HTTPStatus(err), code, stored, wantCode)
	}
}

// TestKeysFitTheSchema: ids the service makes up are within
// events.MaxIDBytes whatever they are made from.
func TestKeysFitTheSchema(t *testing.T) {
	huge := strings.Repeat("\xff", 1<<16)
	c := adapter.Conversion{OrderID: huge, ClickID: huge, CourseID: huge, Status: "approved",
		SaleAmount: money.Amount{Minor: 1 << 62, Currency: "USD"}, Commission: money.Amount{Minor: -1 << 62, Currency: "USD"}, OccurredAt: now}
	for name, id := range map[string]string{"derived key": derivedKey(c), "event id": EventID(huge, huge),
		"wire key of a long stored key": wireKey(huge)} {
		if len(id) > events.MaxIDBytes || id == "" {
			t.Errorf("%s is %d bytes", name, len(id))
		}
	}
	if k := strings.Repeat("k", events.MaxIDBytes); wireKey(k) != k {
		t.Error("a key within the limit is not kept as it is")
	}
}

// FuzzAcceptedEventsValidate: whatever a partner sends, an event the
// service accepts is one every consumer accepts too: its wire JSON decodes
// and validates (events.DecodeConversion), so none is dead-lettered.
func FuzzAcceptedEventsValidate(f *testing.F) {
	f.Add("msg_1", []byte(`{"order_id":"A","status":"pending","sale_amount":"500.00","commission":"1","occurred_at":"2026-11-20T10:00:00Z"}`),
		"order_id=A&status=approved&sale_amount=1&commission=1")
	f.Add(strings.Repeat("i", 128), []byte("{\"order_id\":\"\xff\xff\",\"status\":\"approved\",\"sale_amount\":\"1\",\"commission\":\"1\",\"currency\":\"jpy\",\"occurred_at\":\"2026-11-20T10:00:00Z\"}"),
		"order_id=%FF&status=approved&sale_amount=1&commission=1&currency=KWD")
	f.Add("m", []byte(`{"order_id":"A","status":"approved","sale_amount":"92233720368547758.07","commission":"1","occurred_at":"2026-11-20T10:00:00Z"}`),
		"order_id=A&status=approved&sale_amount=50000&commission=1&currency=JPY&event_id="+strings.Repeat("e", 129))
	fx := newFixture(f, "500.00")
	f.Fuzz(func(t *testing.T, id string, body []byte, query string) {
		before := len(fx.store.outbox)
		if _, err := fx.webhook(id, body); err != nil {
			wantClientError(t, err)
		}
		if params, err := url.ParseQuery(query); err == nil {
			if _, err := fx.postback(params); err != nil {
				wantClientError(t, err)
			}
		}
		for _, msg := range fx.store.outbox[before:] {
			c, err := events.DecodeConversion(msg.Value)
			if err != nil {
				t.Fatalf("an accepted event fails a consumer: %v\n%s", err, msg.Value)
			}
			for _, a := range []string{c.SaleAmount, c.Commission} {
				if m, _ := money.Parse(a, c.Currency); m.Minor > 50000 {
					t.Fatalf("accepted %s %s above max_amount 500.00 USD", a, c.Currency)
				}
			}
		}
	})
}

func wantClientError(t *testing.T, err error) {
	t.Helper()
	if s := errs.HTTPStatus(err); s < 400 || s >= 500 {
		t.Fatalf("status %d: %v", s, err)
	}
}

// TestSvixHeaderNames: a delivery signed under Svix's header names is
// checked by the same rules, and its refusals name the headers it sent.
func TestSvixHeaderNames(t *testing.T) {
	f := newFixture(t, "")
	body := []byte(`{"order_id":"S-1","status":"pending","sale_amount":"10.00","commission":"1.00","occurred_at":"2026-11-20T10:00:00Z"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	stale := strconv.FormatInt(now.Add(-301*time.Second).Unix(), 10)
	tests := []struct {
		name, prefix, id, ts, sig string
		code, mentions            string // "" accepted
	}{
		{"svix, valid", HeaderPrefixSvix, "msg_s1", ts, webhook.Sign(f.key, "msg_s1", ts, body), "", ""},
		{"svix, no signature", HeaderPrefixSvix, "msg_s2", ts, "", "missing_signature", "svix-signature"},
		{"svix, stale", HeaderPrefixSvix, "msg_s3", stale, webhook.Sign(f.key, "msg_s3", stale, body), "invalid_timestamp", "svix-timestamp"},
		{"svix, not a timestamp", HeaderPrefixSvix, "msg_s4", "soon", webhook.Sign(f.key, "msg_s4", "soon", body), "invalid_timestamp", "svix-timestamp"},
		{"svix, no v1 signature", HeaderPrefixSvix, "msg_s5", ts, "v2,abc", "invalid_signature", "svix-signature"},
		{"svix, wrong signature", HeaderPrefixSvix, "msg_s6", ts, webhook.Sign([]byte("another key, 32 bytes long......"), "msg_s6", ts, body), "invalid_signature", ""},
		{"svix, no id", HeaderPrefixSvix, "", ts, webhook.Sign(f.key, "", ts, body), "missing_field", "svix-id"},
		{"webhook, no signature", HeaderPrefixWebhook, "msg_w1", ts, "", "missing_signature", "webhook-signature"},
		{"no prefix given", "", "msg_w2", ts, "", "missing_signature", "webhook-signature"},
	}
	for _, tt := range tests {
		_, err := f.svc.Webhook(context.Background(), WebhookRequest{Partner: "p", HeaderPrefix: tt.prefix, ID: tt.id, Timestamp: tt.ts,
			Signature: tt.sig, Body: body})
		code, message := errs.Public(err)
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.code != "" && (code != tt.code || !strings.Contains(message, tt.mentions)):
			t.Errorf("%s: %s %q, want %s naming %s", tt.name, code, message, tt.code, tt.mentions)
		}
	}
}

// A nanosecond occurred_at goes out on conversions.v1 cut to the
// microsecond, the precision reporting stores it with: the published
// event and the one reporting reads back are the same instant.
func TestPublishedOccurredAtIsMicroseconds(t *testing.T) {
	const want = "2026-11-20T10:00:00.123456Z"
	tests := []struct {
		name     string
		occurred string
		send     func(f *fixture, occurred string) (Receipt, error)
	}{
		{"webhook", "2026-11-20T10:00:00.123456789Z", func(f *fixture, occurred string) (Receipt, error) {
			return f.webhook("msg_ns", []byte(`{"order_id":"N-1","status":"pending","sale_amount":"10.00","commission":"1.00","occurred_at":"`+occurred+`"}`))
		}},
		{"webhook, 1 ns past the microsecond", "2026-11-20T10:00:00.123456001Z", func(f *fixture, occurred string) (Receipt, error) {
			return f.webhook("msg_ns", []byte(`{"order_id":"N-1","status":"pending","sale_amount":"10.00","commission":"1.00","occurred_at":"`+occurred+`"}`))
		}},
		{"postback", "2026-11-20T10:00:00.123456999Z", func(f *fixture, occurred string) (Receipt, error) {
			return f.postback(url.Values{"order_id": {"N-1"}, "status": {"pending"}, "sale_amount": {"10.00"}, "commission": {"1.00"}, "occurred_at": {occurred}})
		}},
		{"postback, naive UTC", "2026-11-20 10:00:00.1234569", func(f *fixture, occurred string) (Receipt, error) {
			return f.postback(url.Values{"order_id": {"N-1"}, "status": {"pending"}, "sale_amount": {"10.00"}, "commission": {"1.00"}, "occurred_at": {occurred}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			if _, err := tt.send(f, tt.occurred); err != nil {
				t.Fatal(err)
			}
			if len(f.store.outbox) != 1 {
				t.Fatalf("%d messages published, want 1", len(f.store.outbox))
			}
			msg := f.store.outbox[0].Value
			c, err := events.DecodeConversion(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.OccurredAt.UTC().Format(time.RFC3339Nano); got != want || !bytes.Contains(msg, []byte(`"occurred_at":"`+want+`"`)) {
				t.Fatalf("published occurred_at %s, want %s\n%s", got, want, msg)
			}
		})
	}
}
