package conversion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
	"github.com/linkcredit/linkcredit/services/conversions/internal/secret"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// Service is what the conversions service does.
type Service interface {
	// PutPartner creates or replaces a partner (422 when invalid).
	PutPartner(ctx context.Context, in PartnerInput) (Partner, bool, error)
	// GetPartner returns a partner without its secrets (404 when unknown).
	GetPartner(ctx context.Context, id string) (Partner, error)
	// ListPartners returns every partner without secrets.
	ListPartners(ctx context.Context) ([]Partner, error)
	// Webhook accepts a signed webhook: 401 bad signature or stale, 404
	// unknown partner, 400/422 bad content, 409 a reused id with another
	// body, 503 when it cannot be made durable.
	Webhook(ctx context.Context, req WebhookRequest) (Receipt, error)
	// Postback accepts a token-authenticated postback, with the same rules.
	Postback(ctx context.Context, req PostbackRequest) (Receipt, error)
}

// Errors.
var (
	ErrPartnerNotFound     = errs.New(errs.NotFound, "partner_not_found", "no partner has this id")
	ErrIdempotencyConflict = errs.New(errs.Conflict, "idempotency_conflict", "this event id was already used with a different body")
)

// Receipt says what happened to an accepted request.
type Receipt struct {
	EventID   string `json:"id"`
	Duplicate bool   `json:"-"`
}

// StoredPartner is a partner as kept: secrets sealed, token digested.
type StoredPartner struct {
	ID, Name, Currency string
	// MaxAmount is the ceiling on sale_amount and commission, in Currency
	// (adapter.Partner.MaxAmount).
	MaxAmount     money.Amount
	Mapping       adapter.Mapping
	SealedSecrets [][]byte // nil on Put: keep the stored ones
	TokenDigest   []byte   // nil on Put: keep the stored one
	CreatedAt     time.Time
	UpdatedAt     time.Time // on Put: the time of the change (and of the creation)
}

// InboxEntry is a raw request as stored for audit.
type InboxEntry struct {
	Partner, IdempotencyKey, EventID, Source, Method, Query string
	BodyHash                                                []byte
	Headers                                                 map[string]string
	Body                                                    []byte
	ReceivedAt                                              time.Time // the event's received_at, from Deps.Now
}

// OutboxMessage is an event waiting to be published.
type OutboxMessage struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// Store keeps partners and accepted requests. Errors are errs kinds.
type Store interface {
	PutPartner(ctx context.Context, p StoredPartner) (StoredPartner, bool, error)
	GetPartner(ctx context.Context, id string) (StoredPartner, error)
	ListPartners(ctx context.Context) ([]StoredPartner, error)
	// Accept stores the request and its event atomically, or reports a
	// duplicate (Receipt.Duplicate) or ErrIdempotencyConflict.
	Accept(ctx context.Context, in InboxEntry, msg OutboxMessage) (Receipt, error)
}

// TraceInjector writes the caller's trace context into message headers.
type TraceInjector func(ctx context.Context, headers map[string]string)

// Deps are the service's adapters.
type Deps struct {
	Store  Store
	Box    *secret.Box
	Inject TraceInjector
	Logger *slog.Logger
	// Now tells business time: webhook freshness, received_at, the
	// occurred_at of a conversion that names none (nil: the system clock).
	Now clock.Clock
	// PartnerCacheTTL is how long a partner read from the Store is reused
	// (0: read it for every request).
	PartnerCacheTTL time.Duration
}

type service struct {
	deps  Deps
	cache partnerCache
}

// New returns the service.
func New(deps Deps) Service {
	deps.Now = clock.OrSystem(deps.Now)
	if deps.Inject == nil {
		deps.Inject = func(context.Context, map[string]string) {}
	}
	return &service{deps: deps, cache: newPartnerCache(deps.PartnerCacheTTL)}
}

// partner is a partner ready for requests: secrets opened, mapping resolved.
type partner struct {
	StoredPartner
	keys    [][]byte
	mapping adapter.Mapping // postbacks: the partner's own parameters
	webhook adapter.Mapping // webhooks: linkcredit's fields, the partner's status words too
	limits  adapter.Partner // default currency and max_amount
}

func (s *service) partner(ctx context.Context, id string) (*partner, error) {
	if p, ok := s.cache.get(id); ok {
		return p, nil
	}
	sp, err := s.deps.Store.GetPartner(ctx, id)
	if errors.Is(err, errs.NotFound) {
		return nil, ErrPartnerNotFound
	}
	if err != nil {
		return nil, err
	}
	p := &partner{StoredPartner: sp, limits: adapter.Partner{Currency: sp.Currency, MaxAmount: sp.MaxAmount}}
	for _, sealed := range sp.SealedSecrets {
		plain, err := s.deps.Box.Open(sp.ID, sealed)
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, "secrets_unreadable", "partner secrets cannot be read; check SECRETS_KEY", err)
		}
		key, err := webhook.ParseSecret(string(plain))
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, key)
	}
	if p.mapping, err = sp.Mapping.Resolve(); err != nil {
		return nil, err
	}
	if p.webhook, err = (adapter.Mapping{Statuses: p.mapping.Statuses}).Resolve(); err != nil {
		return nil, err
	}
	s.cache.put(id, p)
	return p, nil
}

// WebhookRequest is a delivery to /v1/webhooks/{partner}.
type WebhookRequest struct {
	Partner   string
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string // webhook-signature
	Body      []byte
	Headers   map[string]string // for the audit record
}

func (s *service) Webhook(ctx context.Context, req WebhookRequest) (Receipt, error) {
	p, err := s.partner(ctx, req.Partner)
	if err != nil {
		return Receipt{}, err
	}
	now := s.deps.Now()
	if req.Signature == "" {
		return Receipt{}, errs.New(errs.Unauthenticated, "missing_signature", "the webhook-signature header is missing")
	}
	if err := webhook.Verify(p.keys, req.ID, req.Timestamp, req.Signature, req.Body, now); err != nil {
		code := "invalid_signature"
		if errors.Is(err, webhook.ErrStale) || errors.Is(err, webhook.ErrTimestamp) {
			code = "invalid_timestamp"
		}
		return Receipt{}, errs.Wrap(errs.Unauthenticated, code, err.Error(), err)
	}
	if err := checkKey("webhook-id", req.ID); err != nil {
		return Receipt{}, err
	}
	c, err := p.webhook.DecodeWebhook(req.Body, p.limits, now)
	if err != nil {
		return Receipt{}, err
	}
	return s.accept(ctx, now, p, c, req.ID, events.SourceWebhook, "POST", req.Headers, "", req.Body, sha(req.Body))
}

// PostbackRequest is a server-to-server postback (query or form).
type PostbackRequest struct {
	Partner string
	Method  string
	Params  url.Values // query and form together; includes token
	Headers map[string]string
}

func (s *service) Postback(ctx context.Context, req PostbackRequest) (Receipt, error) {
	p, err := s.partner(ctx, req.Partner)
	if err != nil {
		return Receipt{}, err
	}
	token := req.Params.Get("token")
	if token == "" {
		return Receipt{}, errs.New(errs.Unauthenticated, "missing_token", "the token parameter is missing")
	}
	if p.TokenDigest == nil || !s.deps.Box.Matches(p.ID, token, p.TokenDigest) {
		return Receipt{}, errs.New(errs.Unauthenticated, "invalid_token", "the postback token is not valid")
	}
	params := url.Values{}
	for k, v := range req.Params {
		if k != "token" {
			params[k] = v
		}
	}
	now := s.deps.Now()
	c, err := p.mapping.FromParams(params, p.limits, now)
	if err != nil {
		return Receipt{}, err
	}
	// The stored query never holds the token. Its canonical form (sorted)
	// is the body whose hash detects a reused event id.
	query := params.Encode()
	key := c.EventID
	if key == "" {
		key = derivedKey(c)
	} else if err := checkKey("event_id", key); err != nil {
		return Receipt{}, err
	}
	return s.accept(ctx, now, p, c, key, events.SourcePostback, req.Method, req.Headers, query, nil, sha([]byte(query)))
}

// derivedKey identifies a postback without an event id by what it says,
// so a network retrying the same postback is recognised. It is 43 bytes,
// well within events.MaxIDBytes.
func derivedKey(c adapter.Conversion) string {
	parts := []string{c.OrderID, c.Status, c.SaleAmount.String(), c.Commission.String(), c.Commission.Currency, c.ClickID, c.CourseID}
	if !c.OccurredAt.IsZero() {
		parts = append(parts, c.OccurredAt.Format(time.RFC3339Nano))
	}
	return "pb_" + hex.EncodeToString(sha([]byte(strings.Join(parts, "\x00"))))[:40]
}

// checkKey refuses an idempotency key (webhook-id, event_id) that is
// missing (400), longer than events.MaxIDBytes (422 field_too_long), or not
// printable UTF-8 (422 invalid_value), before anything is stored.
func checkKey(name, key string) error {
	switch {
	case key == "":
		return errs.Newf(errs.Invalid, "missing_field", "missing %s", name)
	case len(key) > events.MaxIDBytes:
		return errs.Fields{{Field: name, Message: fmt.Sprintf("is %d bytes, more than %d", len(key), events.MaxIDBytes)}}.Err("field_too_long")
	case !utf8.ValidString(key) || strings.ContainsAny(key, "\x00\r\n"):
		return errs.Fields{{Field: name, Message: "must be printable UTF-8 text"}}.Err("invalid_value")
	}
	return nil
}

// EventID is the stable id of the event for (partner, idempotency key):
// a redelivery maps to the same event. It is 35 bytes whatever the key.
func EventID(partner, key string) string {
	return "cv_" + hex.EncodeToString(sha([]byte(partner + "\x00" + key)))[:32]
}

// wireKey is an idempotency key as the event carries it. Keys accepted
// since contract v1.1 (checkKey, derivedKey) pass unchanged; a longer one
// stored in the inbox before (v1 allowed 256 bytes) is replaced by its
// digest, so a replay of it still validates.
func wireKey(key string) string {
	if len(key) <= events.MaxIDBytes {
		return key
	}
	return "sha256_" + hex.EncodeToString(sha([]byte(key)))
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// accept stores the request and its event. now is the instant the request
// was checked at: the event's received_at, and its occurred_at when the
// partner sent none. It is cut to the database's microseconds, so the
// inbox row and a replay of it carry the event's very time.
func (s *service) accept(ctx context.Context, now time.Time, p *partner, c adapter.Conversion, key, source, method string,
	headers map[string]string, query string, body, bodyHash []byte) (Receipt, error) {
	ev := s.event(p, c, key, source, now.UTC().Truncate(time.Microsecond))
	msg, err := Message(ctx, ev, s.deps.Inject)
	if err != nil {
		return Receipt{}, err
	}
	if body == nil {
		body = []byte{}
	}
	return s.deps.Store.Accept(ctx, InboxEntry{Partner: p.ID, IdempotencyKey: key, EventID: ev.ID, Source: source,
		Method: method, Query: query, BodyHash: bodyHash, Headers: headers, Body: body, ReceivedAt: ev.ReceivedAt}, msg)
}

func (s *service) event(p *partner, c adapter.Conversion, key, source string, now time.Time) events.ConversionReceived {
	occurred := c.OccurredAt
	if occurred.IsZero() {
		occurred = now
	}
	return events.ConversionReceived{
		Header:         events.Header{ID: EventID(p.ID, key), Type: events.TypeConversionReceived, SchemaVersion: events.SchemaVersion},
		Partner:        p.ID,
		OrderID:        c.OrderID,
		ClickID:        c.ClickID,
		CourseID:       c.CourseID,
		Status:         c.Status,
		RawStatus:      c.RawStatus,
		ReasonCode:     c.ReasonCode,
		SaleAmount:     c.SaleAmount.String(),
		Commission:     c.Commission.String(),
		Currency:       c.Commission.Currency,
		OccurredAt:     occurred,
		ReceivedAt:     now,
		Source:         source,
		IdempotencyKey: wireKey(key),
	}
}

// Message is the outbox form of an event.
func Message(ctx context.Context, ev events.ConversionReceived, inject TraceInjector) (OutboxMessage, error) {
	if err := ev.Validate(); err != nil {
		return OutboxMessage{}, err
	}
	value, err := events.Marshal(ev)
	if err != nil {
		return OutboxMessage{}, err
	}
	headers := map[string]string{}
	if inject != nil {
		inject(ctx, headers)
	}
	return OutboxMessage{Topic: events.TopicConversions, Key: ev.Key(), Value: value, Headers: headers}, nil
}

// PartnerInput is the body of PUT /v1/partners/{partner}. A PUT replaces
// the partner: what it leaves out takes its default (max_amount, mapping),
// except secrets and token, which cannot be read back and so are kept.
type PartnerInput struct {
	ID             string   `json:"-"`
	Name           string   `json:"name"`
	WebhookSecrets []string `json:"webhook_secrets"`
	PostbackToken  *string  `json:"postback_token"`
	Currency       string   `json:"currency"`
	// MaxAmount is a decimal string in Currency (adapter.ParseMaxAmount);
	// empty means adapter.DefaultMaxAmount.
	MaxAmount string          `json:"max_amount"`
	Mapping   adapter.Mapping `json:"mapping"`
	Adapter   string          `json:"adapter"` // shorthand for mapping.preset
}

// Partner is a partner as the API shows it: never its secrets.
type Partner struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Currency         string          `json:"currency"`
	MaxAmount        string          `json:"max_amount"`
	Mapping          adapter.Mapping `json:"mapping"`
	WebhookSecrets   int             `json:"webhook_secrets"`
	PostbackTokenSet bool            `json:"postback_token_set"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

func view(p StoredPartner) Partner {
	maxAmount := p.MaxAmount
	if maxAmount.Minor <= 0 {
		maxAmount = adapter.DefaultMaxAmount(p.Currency)
	}
	return Partner{ID: p.ID, Name: p.Name, Currency: p.Currency, MaxAmount: maxAmount.String(), Mapping: p.Mapping,
		WebhookSecrets: len(p.SealedSecrets), PostbackTokenSet: p.TokenDigest != nil, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func validPartnerID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

func (s *service) PutPartner(ctx context.Context, in PartnerInput) (Partner, bool, error) {
	var f errs.Fields
	if !validPartnerID(in.ID) {
		f.Add("partner", "must be 1 to 64 lower-case letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		f.Add("name", "is required (at most 200 characters)")
	}
	in.Currency = strings.ToUpper(in.Currency)
	maxAmount := adapter.DefaultMaxAmount(in.Currency)
	if !money.IsCurrency(in.Currency) {
		f.Add("currency", "%q is not an ISO 4217 currency", in.Currency)
	} else if in.MaxAmount != "" {
		var err error
		if maxAmount, err = adapter.ParseMaxAmount(in.MaxAmount, in.Currency); err != nil {
			f.Add("max_amount", "%v", err)
		}
	}
	if len(in.WebhookSecrets) > 2 {
		f.Add("webhook_secrets", "at most two may be active at once (for rotation)")
	}
	for i, sec := range in.WebhookSecrets {
		if _, err := webhook.ParseSecret(sec); err != nil {
			f.Add("webhook_secrets", "entry %d: %v", i+1, err)
		}
	}
	if in.PostbackToken != nil && (len(*in.PostbackToken) < 16 || len(*in.PostbackToken) > 256) {
		f.Add("postback_token", "must be 16 to 256 characters")
	}
	if in.Adapter != "" {
		if in.Mapping.Preset != "" && in.Mapping.Preset != in.Adapter {
			f.Add("adapter", "differs from mapping.preset")
		}
		in.Mapping.Preset = in.Adapter
	}
	if _, err := in.Mapping.Resolve(); err != nil {
		f.Add("mapping", "%v", err)
	}
	if err := f.Err("invalid_partner"); err != nil {
		return Partner{}, false, err
	}
	sp := StoredPartner{ID: in.ID, Name: in.Name, Currency: in.Currency, MaxAmount: maxAmount, Mapping: in.Mapping,
		UpdatedAt: s.deps.Now().UTC().Truncate(time.Microsecond)}
	if in.WebhookSecrets != nil {
		sp.SealedSecrets = [][]byte{}
		for _, sec := range in.WebhookSecrets {
			sealed, err := s.deps.Box.Seal(in.ID, []byte(sec))
			if err != nil {
				return Partner{}, false, err
			}
			sp.SealedSecrets = append(sp.SealedSecrets, sealed)
		}
	}
	if in.PostbackToken != nil {
		sp.TokenDigest = s.deps.Box.Digest(in.ID, *in.PostbackToken)
	}
	stored, created, err := s.deps.Store.PutPartner(ctx, sp)
	if err != nil {
		return Partner{}, false, err
	}
	s.cache.forget(in.ID)
	return view(stored), created, nil
}

func (s *service) GetPartner(ctx context.Context, id string) (Partner, error) {
	if !validPartnerID(id) {
		return Partner{}, ErrPartnerNotFound
	}
	p, err := s.deps.Store.GetPartner(ctx, id)
	if errors.Is(err, errs.NotFound) {
		return Partner{}, ErrPartnerNotFound
	}
	return view(p), err
}

func (s *service) ListPartners(ctx context.Context) ([]Partner, error) {
	ps, err := s.deps.Store.ListPartners(ctx)
	out := make([]Partner, 0, len(ps))
	for _, p := range ps {
		out = append(out, view(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// Replayer decodes stored requests again through the partners' current
// adapters, for when a mapping was wrong: each gives a new event that
// names the one it supersedes (replay_of).
type Replayer struct{ s *service }

// NewReplayer returns a replayer over the same dependencies as the service.
func NewReplayer(deps Deps) *Replayer { return &Replayer{s: New(deps).(*service)} }

// StoredRequest is an inbox row.
type StoredRequest struct {
	Partner, IdempotencyKey, EventID, Source, Query string
	Body                                            []byte
	ReceivedAt                                      time.Time
}

// Event re-decodes a stored request. run distinguishes replay runs, so a
// second replay supersedes the first.
func (r *Replayer) Event(ctx context.Context, req StoredRequest, run string) (OutboxMessage, error) {
	p, err := r.s.partner(ctx, req.Partner)
	if err != nil {
		return OutboxMessage{}, err
	}
	var c adapter.Conversion
	if req.Source == events.SourceWebhook {
		c, err = p.webhook.DecodeWebhook(req.Body, p.limits, req.ReceivedAt)
	} else {
		params, perr := url.ParseQuery(req.Query)
		if perr != nil {
			return OutboxMessage{}, perr
		}
		c, err = p.mapping.FromParams(params, p.limits, req.ReceivedAt)
	}
	if err != nil {
		return OutboxMessage{}, err
	}
	ev := r.s.event(p, c, req.IdempotencyKey, events.SourceReplay, req.ReceivedAt.UTC())
	ev.ID = EventID(p.ID, req.IdempotencyKey+"\x00replay\x00"+run)
	ev.ReplayOf = req.EventID
	return Message(ctx, ev, nil)
}
