package httptransport

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// MaxBody is the most a webhook, postback form or partner body may be.
const MaxBody = 64 << 10

// Register adds the service's routes to rt:
//
//	PUT  /v1/partners/{partner}   create or replace a partner   (partners scope)
//	GET  /v1/partners/{partner}   read a partner, no secrets    (partners scope)
//	GET  /v1/partners             list partners                 (partners scope)
//	POST /v1/webhooks/{partner}   Standard Webhooks delivery    (signature)
//	GET  /v1/postback/{partner}   postback with URL parameters  (token)
//	POST /v1/postback/{partner}   postback as a form            (token)
func Register(rt *httpx.Router, e conversion.Endpoints, tokens *httpx.Tokens, logger *slog.Logger) {
	opts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(httpx.KitErrorEncoder(logger))}
	admin := func(h http.Handler) http.Handler { return tokens.Require(httpx.ScopePartners, h) }
	rt.Handle("PUT /v1/partners/{partner}", admin(kithttp.NewServer(e.PutPartner, decodePutPartner, encodePutPartner, opts...)))
	rt.Handle("GET /v1/partners/{partner}", admin(kithttp.NewServer(e.GetPartner,
		func(_ context.Context, r *http.Request) (any, error) { return r.PathValue("partner"), nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	rt.Handle("GET /v1/partners", admin(kithttp.NewServer(e.ListPartners,
		func(context.Context, *http.Request) (any, error) { return nil, nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	rt.Handle("POST /v1/webhooks/{partner}", kithttp.NewServer(e.Webhook, decodeWebhook, encodeReceipt, opts...))
	postback := kithttp.NewServer(e.Postback, decodePostback, encodeReceipt, opts...)
	rt.Handle("GET /v1/postback/{partner}", postback)
	rt.Handle("POST /v1/postback/{partner}", postback)
}

func decodePutPartner(_ context.Context, r *http.Request) (any, error) {
	var in conversion.PartnerInput
	if err := httpx.DecodeJSON(r, MaxBody, &in); err != nil {
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

// auditHeaders are the request headers kept with the raw request; never
// credentials.
var auditHeaders = []string{"Content-Type", "User-Agent", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
	"X-Forwarded-For", "Traceparent"}

func audit(r *http.Request) map[string]string {
	h := map[string]string{}
	for _, k := range auditHeaders {
		if v := r.Header.Get(k); v != "" {
			h[strings.ToLower(k)] = v
		}
	}
	return h
}

func decodeWebhook(_ context.Context, r *http.Request) (any, error) {
	body, err := httpx.ReadBody(r, MaxBody)
	if err != nil {
		return nil, err
	}
	return conversion.WebhookRequest{
		Partner:   r.PathValue("partner"),
		ID:        r.Header.Get("Webhook-Id"),
		Timestamp: r.Header.Get("Webhook-Timestamp"),
		Signature: r.Header.Get("Webhook-Signature"),
		Body:      body,
		Headers:   audit(r),
	}, nil
}

func decodePostback(_ context.Context, r *http.Request) (any, error) {
	params := url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = v
	}
	if r.Method == http.MethodPost {
		body, err := httpx.ReadBody(r, MaxBody)
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errs.New(errs.Invalid, "malformed_form", "the body is not a URL-encoded form")
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	}
	return conversion.PostbackRequest{Partner: r.PathValue("partner"), Method: r.Method, Params: params, Headers: audit(r)}, nil
}

type receiptBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// encodeReceipt answers 202 for a new event, 200 for an identical replay.
func encodeReceipt(_ context.Context, w http.ResponseWriter, resp any) error {
	r := resp.(conversion.Receipt)
	if r.Duplicate {
		httpx.WriteJSON(w, http.StatusOK, receiptBody{ID: r.EventID, Status: "duplicate"})
		return nil
	}
	httpx.WriteJSON(w, http.StatusAccepted, receiptBody{ID: r.EventID, Status: "accepted"})
	return nil
}
