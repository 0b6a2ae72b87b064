package httptransport

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// RegisterPartnerHealth adds the partner-health routes, behind the
// finance scope:
//
//	GET /v1/partner-activity               per partner: last purchase, conversions in
//	                                       24 h and 7 days, unattributed ones among them
//	GET /v1/partners/{partner}/unattributed  ?limit=1..1000 (100): the latest
//	                                       conversions that joined no click, with
//	                                       the click ids they named
//
// Rejections are conversions' (GET /v1/partner-health there): they never
// reach reporting.
func RegisterPartnerHealth(rt *httpx.Router, h *reporting.PartnerHealth, tokens *httpx.Tokens, logger *slog.Logger) {
	opts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(httpx.KitErrorEncoder(logger))}
	finance := func(h http.Handler) http.Handler {
		return tokens.Require(httpx.ScopeFinance, httpx.StrictSingleQuery(h))
	}
	activity := endpoint.Endpoint(func(ctx context.Context, _ any) (any, error) {
		a, err := h.Activity(ctx)
		return map[string]any{"partners": a}, err
	})
	unattributed := endpoint.Endpoint(func(ctx context.Context, req any) (any, error) {
		r := req.(reporting.UnattributedRequest)
		u, err := h.Unattributed(ctx, r)
		return map[string]any{"partner": r.Partner, "conversions": u}, err
	})
	rt.Handle("GET /v1/partner-activity", finance(kithttp.NewServer(activity,
		func(context.Context, *http.Request) (any, error) { return nil, nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	rt.Handle("GET /v1/partners/{partner}/unattributed", finance(kithttp.NewServer(unattributed,
		func(_ context.Context, r *http.Request) (any, error) {
			return reporting.UnattributedRequest{Partner: r.PathValue("partner"), Limit: r.URL.Query().Get("limit")}, nil
		}, httpx.KitEncodeJSON(http.StatusOK), opts...)))
}
