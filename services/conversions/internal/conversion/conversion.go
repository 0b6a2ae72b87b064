package conversion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

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
	// PostbackURL returns the postback URL to enter in the partner's
	// network: 404 unknown partner, 422 a token that is not the partner's.
	PostbackURL(ctx context.Context, req PostbackURLRequest) (PostbackURL, error)
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
	// Test: the network's test delivery (adapter.Mapping.TestEvents),
	// answered 200 and recorded nowhere.
	Test bool `json:"-"`
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
	// OrderID is the conversion's order: Accept numbers requests per
	// (Partner, OrderID), in the order it commits them.
	OrderID  string
	BodyHash []byte // what a request reusing the key is compared by
	// LegacyHash, when set, is what such a request was compared by before
	// BodyHash's form changed: a stored request with it is the same too.
	LegacyHash []byte
	Headers    map[string]string
	Body       []byte
	ReceivedAt time.Time // the event's received_at, from Deps.Now
}

// MessageBuilder makes the outbox message of an accepted request once the
// store has given it its acceptance number (events.ConversionReceived's
// AcceptedSeq).
type MessageBuilder func(acceptedSeq int64) (OutboxMessage, error)

// Store keeps partners and accepted requests. Errors are errs kinds.
// GetPartner and Accept return once ctx ends, whether the database
// answered or not (a 503 then): that is what bounds a partner's wait
// (Deps.AcceptTimeout).
type Store interface {
	PutPartner(ctx context.Context, p StoredPartner) (StoredPartner, bool, error)
	GetPartner(ctx context.Context, id string) (StoredPartner, error)
	ListPartners(ctx context.Context) ([]StoredPartner, error)
	// Accept stores the request and its event atomically, or reports a
	// duplicate (Receipt.Duplicate) or ErrIdempotencyConflict. It gives
	// the request the next acceptance number of its conversion (rising in
	// commit order per (Partner, OrderID)), stores it with the request and
	// builds the event with it (build).
	Accept(ctx context.Context, in InboxEntry, build MessageBuilder) (Receipt, error)
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
	// PublicBaseURL is where networks reach this service (PUBLIC_BASE_URL),
	// the base of the postback URLs it gives out.
	PublicBaseURL string
	// AcceptTimeout bounds how long a webhook or postback waits for the
	// store, its partner's lookup and its event made durable together,
	// before it is answered 503 (default DefaultAcceptTimeout). A partner
	// retries a 503; a database that accepts connections but never answers
	// must not hold its request until the server's write timeout cuts it
	// off with no answer at all.
	AcceptTimeout time.Duration
}

// DefaultAcceptTimeout is Deps.AcceptTimeout's default: far above a
// healthy store's time (milliseconds, batched), well below the server's
// 60 s write timeout and the 10-30 s partners commonly wait for an answer.
const DefaultAcceptTimeout = 5 * time.Second

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
	if deps.AcceptTimeout <= 0 {
		deps.AcceptTimeout = DefaultAcceptTimeout
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
	if !validPartnerID(id) {
		// No partner has it, and the store need not be asked: anyone may
		// put anything in the path, bytes the database refuses included.
		return nil, ErrPartnerNotFound
	}
	if p, ok := s.cache.get(id); ok {
		return p, nil
	}
	sp, err := s.deps.Store.GetPartner(ctx, id)
	if errors.Is(err, errs.NotFound) {
		return nil, ErrPartnerNotFound
	}
	if err != nil {
		return nil, unresolvedPartner{err}
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

// unresolvedPartner is a failure to learn whether the request's partner
// exists (the store unavailable, the client gone): the id is then anyone's
// bytes, and metrics must not take it as a label.
type unresolvedPartner struct{ err error }

func (e unresolvedPartner) Error() string { return e.err.Error() }
func (e unresolvedPartner) Unwrap() error { return e.err }

// WebhookRequest is a delivery to /v1/webhooks/{partner}.
type WebhookRequest struct {
	Partner string
	// HeaderPrefix names the header set the delivery was signed under:
	// HeaderPrefixWebhook (Standard Webhooks) or HeaderPrefixSvix, the
	// same scheme under Svix's names; errors name the headers it sent.
	HeaderPrefix string
	ID           string // <prefix>-id
	Timestamp    string // <prefix>-timestamp
	Signature    string // <prefix>-signature
	Body         []byte
	Headers      map[string]string // for the audit record
}

// The header sets a webhook may be signed under (contract v1.1).
const (
	HeaderPrefixWebhook = "webhook"
	HeaderPrefixSvix    = "svix"
)

func (s *service) Webhook(ctx context.Context, req WebhookRequest) (Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, s.deps.AcceptTimeout)
	defer cancel()
	p, err := s.partner(ctx, req.Partner)
	if err != nil {
		return Receipt{}, err
	}
	now := s.deps.Now()
	prefix := req.HeaderPrefix
	if prefix == "" {
		prefix = HeaderPrefixWebhook
	}
	if req.Signature == "" {
		return Receipt{}, errs.Newf(errs.Unauthenticated, "missing_signature", "the %s-signature header is missing", prefix)
	}
	if err := webhook.Verify(p.keys, req.ID, req.Timestamp, req.Signature, req.Body, now); err != nil {
		return Receipt{}, verifyError(prefix, err)
	}
	if err := checkKey(prefix+"-id", req.ID); err != nil {
		return Receipt{}, err
	}
	c, err := p.webhook.DecodeNewWebhook(req.Body, p.limits, now)
	if err != nil {
		return Receipt{}, err
	}
	return s.accept(ctx, now, p, c, req.ID, events.SourceWebhook, "POST", req.Headers, "", req.Body, sha(req.Body), nil)
}

// verifyError is a failed verification as the partner sees it: 401, with
// the header it sent named.
func verifyError(prefix string, err error) error {
	code, message := "invalid_signature", "no signature matches an active secret"
	switch {
	case errors.Is(err, webhook.ErrTimestamp):
		code, message = "invalid_timestamp", prefix+"-timestamp is not unix seconds"
	case errors.Is(err, webhook.ErrStale):
		code, message = "invalid_timestamp", fmt.Sprintf("%s-timestamp is more than %d seconds from now", prefix, int(webhook.Tolerance.Seconds()))
	case errors.Is(err, webhook.ErrNoSignature):
		message = "the " + prefix + "-signature header has no well-formed v1 signature (v1,<base64 of the 32-byte HMAC-SHA256>)"
	}
	return errs.Wrap(errs.Unauthenticated, code, message, err)
}

// PostbackRequest is a server-to-server postback: URL parameters, a form,
// or a JSON object as the body (PartnerStack, a CJ record), with the token
// in the URL.
type PostbackRequest struct {
	Partner string
	Method  string
	Params  url.Values // query and form together; includes token
	// JSON is a JSON body, decoded through the partner's mapping instead
	// of Params (nil: none).
	JSON    []byte
	Headers map[string]string
}

func (s *service) Postback(ctx context.Context, req PostbackRequest) (Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, s.deps.AcceptTimeout)
	defer cancel()
	p, err := s.partner(ctx, req.Partner)
	if err != nil {
		return Receipt{}, err
	}
	if err := adapter.SingleValue(req.Params, "token"); err != nil {
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
	if p.mapping.IsTest(params, req.JSON) {
		return Receipt{Test: true}, nil
	}
	now := s.deps.Now()
	var c adapter.Conversion
	// The arrival checks (a wrong JSON type, a repeated parameter) are
	// not the decoders': a request stored before them replays as it was read.
	if err = p.mapping.CheckJSONTypes(params, req.JSON); err == nil {
		if req.JSON != nil {
			c, err = p.mapping.FromJSON(req.JSON, p.limits, now)
		} else if err = p.mapping.CheckRepeated(params); err == nil {
			c, err = p.mapping.FromParams(params, p.limits, now)
		}
	}
	if err != nil {
		return Receipt{}, err
	}
	// The stored query never holds the token.
	query := params.Encode()
	key := c.EventID
	if key == "" {
		key = derivedKey(c)
	} else if err := checkKey("event_id", key); err != nil {
		return Receipt{}, err
	} else if p.mapping.EventIDPerStatus && c.RawStatus != "" {
		key += "/" + strings.ToLower(c.RawStatus)
	}
	// A reused key is compared by what the postback says once decoded
	// (postbackHash); one stored before that was compared by its sorted
	// query and JSON body, which still count as the same.
	legacy := sha([]byte(query))
	if req.JSON != nil {
		legacy = sha([]byte(query + "\x00" + string(req.JSON)))
	}
	return s.accept(ctx, now, p, c, key, events.SourcePostback, req.Method, req.Headers, query, req.JSON, postbackHash(c), legacy)
}

// postbackHash identifies what a postback says once decoded, for telling a
// network's retry (200) from a different event under a reused key (409).
// The same conversion sent again is a retry however its URL is written:
// parameters in another order, a parameter the adapter does not read (a
// retry counter, a cache buster), an amount written "10.0" for "10.00", a
// status word in another case. A 4xx for a retry would count as a failed
// delivery, and networks switch off a postback URL that keeps failing.
func postbackHash(c adapter.Conversion) []byte {
	occurred := ""
	if !c.OccurredAt.IsZero() {
		occurred = c.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	parts := []string{"postback/2", c.EventID, c.OrderID, c.ClickID, c.CourseID, c.Status, c.ReasonCode,
		c.SaleAmount.String(), c.SaleAmount.Currency, c.Commission.String(), c.Commission.Currency, occurred}
	return sha([]byte(strings.Join(parts, "\x00")))
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
	case !events.PrintableText(key):
		return errs.Fields{{Field: name, Message: "must be printable UTF-8 text, without control characters"}}.Err("invalid_value")
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
	headers map[string]string, query string, body, bodyHash, legacyHash []byte) (Receipt, error) {
	ev := s.event(p, c, key, source, now.UTC().Truncate(time.Microsecond))
	// Checked before anything is stored: a 4xx leaves no trace.
	if err := ev.Validate(); err != nil {
		return Receipt{}, err
	}
	if body == nil {
		body = []byte{}
	}
	build := func(seq int64) (OutboxMessage, error) {
		numbered := ev
		numbered.AcceptedSeq = seq
		return Message(ctx, numbered, s.deps.Inject)
	}
	return s.deps.Store.Accept(ctx, InboxEntry{Partner: p.ID, IdempotencyKey: key, EventID: ev.ID, Source: source,
		OrderID: c.OrderID, Method: method, Query: query, BodyHash: bodyHash, LegacyHash: legacyHash, Headers: headers, Body: body,
		ReceivedAt: ev.ReceivedAt}, build)
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
