package httptransport

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/strictjson"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// MaxBody is the most a webhook, postback form or partner body may be.
const MaxBody = 64 << 10

// adminRoute is an admin route: the partners scope, a strict query
// string, and an answer of 503 when it waits too long on a PostgreSQL
// that stopped answering (httpx.AdminStalls); deliveries have their own
// bound (conversion's AcceptTimeout).
func adminRoute(tokens *httpx.Tokens, logger *slog.Logger, h http.Handler) http.Handler {
	return httpx.AdminStalls(logger).Wrap(tokens.Require(httpx.ScopePartners, httpx.StrictSingleQuery(h)))
}

// Register adds the service's routes to rt:
//
//	PUT  /v1/partners/{partner}   create or replace a partner   (partners scope)
//	GET  /v1/partners/{partner}   read a partner, no secrets    (partners scope)
//	GET  /v1/partners             list partners                 (partners scope)
//	GET  /v1/partners/{partner}/postback-url
//	                              the postback URL to enter in  (partners scope)
//	                              the partner's network; ?token= writes the token in
//	POST /v1/webhooks/{partner}   Standard Webhooks delivery    (signature: webhook-* or svix-* headers)
//	GET  /v1/postback/{partner}   postback with URL parameters  (token)
//	POST /v1/postback/{partner}   postback as a form, or a JSON (token in the URL)
//	                              object (application/json)
//
// rec, when not nil, counts every webhook and postback answer for partner
// health (RegisterHealth serves what it counted).
func Register(rt *httpx.Router, e conversion.Endpoints, tokens *httpx.Tokens, logger *slog.Logger, rec DeliveryRecorder) {
	opts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(httpx.KitErrorEncoder(logger))}
	admin := func(h http.Handler) http.Handler { return adminRoute(tokens, logger, h) }
	rt.Handle("PUT /v1/partners/{partner}", admin(kithttp.NewServer(e.PutPartner, decodePutPartner, encodePutPartner, opts...)))
	rt.Handle("GET /v1/partners/{partner}", admin(kithttp.NewServer(e.GetPartner,
		func(_ context.Context, r *http.Request) (any, error) { return r.PathValue("partner"), nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	rt.Handle("GET /v1/partners", admin(kithttp.NewServer(e.ListPartners,
		func(context.Context, *http.Request) (any, error) { return nil, nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	rt.Handle("GET /v1/partners/{partner}/postback-url", admin(kithttp.NewServer(e.PostbackURL,
		decodePostbackURL, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	delivery := append(opts, keepError)
	rt.Handle("POST /v1/webhooks/{partner}", recordDelivery(rec, httpx.StrictQuery(kithttp.NewServer(e.Webhook, decodeWebhook, encodeReceipt, delivery...))))
	postback := recordDelivery(rec, httpx.StrictQuery(kithttp.NewServer(e.Postback, decodePostback, encodeReceipt, delivery...)))
	rt.Handle("GET /v1/postback/{partner}", postback)
	rt.Handle("POST /v1/postback/{partner}", postback)
}

func decodePutPartner(_ context.Context, r *http.Request) (any, error) {
	body, err := httpx.ReadBody(r, MaxBody)
	if err != nil {
		return nil, err
	}
	var in conversion.PartnerInput
	if err := strictjson.Unmarshal(body, &in, strictjson.Options{DisallowUnknownFields: true, DisallowRepeatedKeys: true}); err != nil {
		return nil, err
	}
	in.ID = r.PathValue("partner")
	return in, nil
}

func encodePutPartner(_ context.Context, w http.ResponseWriter, resp any) error {
	r := resp.(conversion.PutPartnerResponse)
	status := http.StatusOK
	if r.Created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, r.Partner)
	return nil
}

// AuditHeaders are the only request headers stored with a request
// (conversions.inbox.headers): what an audit of a delivery needs, which is
// how it was signed and what sent it.
//
// It is an allow-list, not a deny-list of client-IP headers, on purpose.
// Proxies, CDNs and load balancers put the client's address under names
// no list can foresee (X-Forwarded-For, Forwarded, X-Real-IP,
// CF-Connecting-IP, True-Client-IP, X-Client-IP, X-Cluster-Client-IP,
// Fastly-Client-IP, X-Original-Forwarded-For, X-ProxyUser-Ip, a vendor's
// next one), and when a network fires client-side pixels that client is a
// visitor: a deny-list would store the first name it missed. Nor are
// credentials kept (Authorization, cookies; the postback token travels in
// the query and is stripped there), nor Traceparent, which public routes
// ignore. Migration 0003 cut rows stored before to this same list.
var AuditHeaders = []string{"Content-Type", "User-Agent",
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
	"Svix-Id", "Svix-Timestamp", "Svix-Signature"}

// maxAuditValue bounds each kept header: the User-Agent as the redirect
// keeps it, and room for a few signatures. The copy is for reading, not
// for verifying.
const maxAuditValue = 512

// audit returns the allow-listed headers of r, keyed in lower case, each
// at most maxAuditValue bytes of valid UTF-8 without NUL (jsonb refuses
// \u0000).
func audit(r *http.Request) map[string]string {
	h := map[string]string{}
	for _, k := range AuditHeaders {
		v := r.Header.Get(k)
		if v == "" {
			continue
		}
		h[strings.ToLower(k)] = auditValue(v)
	}
	return h
}

func auditValue(v string) string {
	if len(v) > maxAuditValue {
		v = v[:maxAuditValue]
	}
	v = strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "")
	for len(v) > maxAuditValue { // replacements are longer than the bytes they replace
		_, size := utf8.DecodeLastRuneInString(v)
		v = v[:len(v)-size]
	}
	return v
}

// signedHeaders reads the Standard Webhooks headers of a delivery under
// either name (contract v1.1): webhook-id, webhook-timestamp and
// webhook-signature, or Svix's svix-id, svix-timestamp and svix-signature,
// the same scheme under another prefix, with the same rules. The set is
// chosen whole, never header by header: when any webhook-* header is
// present the webhook-* set is used, even beside svix-* headers, so an id
// of one set never meets a signature of the other.
func signedHeaders(h http.Header) (prefix, id, timestamp, signature string) {
	for _, prefix := range []string{conversion.HeaderPrefixWebhook, conversion.HeaderPrefixSvix} {
		id, timestamp, signature = h.Get(prefix+"-id"), h.Get(prefix+"-timestamp"), h.Get(prefix+"-signature")
		if id != "" || timestamp != "" || signature != "" {
			return prefix, id, timestamp, signature
		}
	}
	return conversion.HeaderPrefixWebhook, "", "", ""
}

func decodeWebhook(_ context.Context, r *http.Request) (any, error) {
	body, err := httpx.ReadBody(r, MaxBody)
	if err != nil {
		return nil, err
	}
	prefix, id, timestamp, signature := signedHeaders(r.Header)
	return conversion.WebhookRequest{
		Partner:      r.PathValue("partner"),
		HeaderPrefix: prefix,
		ID:           id,
		Timestamp:    timestamp,
		Signature:    signature,
		Body:         body,
		Headers:      audit(r),
	}, nil
}

// decodePostbackURL reads the partner and, when the caller wants it in the
// URL, the postback token (?token=).
func decodePostbackURL(_ context.Context, r *http.Request) (any, error) {
	return conversion.PostbackURLRequest{Partner: r.PathValue("partner"), Token: r.URL.Query().Get("token")}, nil
}

// decodePostback reads a postback's parameters from the URL and, for a
// POST, from a form body, or takes a JSON body (Content-Type
// application/json) whole for the partner's mapping to decode.
func decodePostback(_ context.Context, r *http.Request) (any, error) {
	params := url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = v
	}
	req := conversion.PostbackRequest{Partner: r.PathValue("partner"), Method: r.Method, Params: params, Headers: audit(r)}
	if r.Method == http.MethodPost {
		body, err := httpx.ReadBody(r, MaxBody)
		if err != nil {
			return nil, err
		}
		if isJSON(r.Header.Get("Content-Type")) {
			req.JSON = body
			return req, nil
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errs.New(errs.Invalid, "malformed_form", "the body is not a URL-encoded form")
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	}
	return req, nil
}

// isJSON says whether a Content-Type is JSON (application/json, or a
// +json type), whatever its parameters.
func isJSON(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	return err == nil && (media == "application/json" || strings.HasSuffix(media, "+json"))
}

type testBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type receiptBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// encodeReceipt answers 202 for a new event, 200 for an identical replay
// or the network's test delivery.
func encodeReceipt(ctx context.Context, w http.ResponseWriter, resp any) error {
	r := resp.(conversion.Receipt)
	if r.Test {
		if s, ok := ctx.Value(errSlotKey{}).(*errSlot); ok {
			s.outcome = conversion.OutcomeTest
		}
		httpx.WriteJSON(w, http.StatusOK, testBody{Status: "test",
			Message: "a test delivery: the URL and the token work; nothing was recorded"})
		return nil
	}
	if r.Duplicate {
		httpx.WriteJSON(w, http.StatusOK, receiptBody{ID: r.EventID, Status: "duplicate"})
		return nil
	}
	httpx.WriteJSON(w, http.StatusAccepted, receiptBody{ID: r.EventID, Status: "accepted"})
	return nil
}
