package httptransport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// DeliveryRecorder counts each webhook and postback by partner and outcome
// (conversion.HealthRecorder).
type DeliveryRecorder interface {
	Record(partner, outcome string, notFound bool)
}

// RegisterHealth adds the partner-health routes:
//
//	GET /v1/partners/{partner}/health  one partner's health        (partners scope)
//	GET /v1/partner-health             every partner's, and the    (partners scope)
//	                                   requests naming no partner
func RegisterHealth(rt *httpx.Router, h *conversion.Health, tokens *httpx.Tokens, logger *slog.Logger) {
	opts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(httpx.KitErrorEncoder(logger))}
	admin := func(h http.Handler) http.Handler { return adminRoute(tokens, logger, h) }
	one := endpoint.Endpoint(func(ctx context.Context, req any) (any, error) { return h.Partner(ctx, req.(string)) })
	all := endpoint.Endpoint(func(ctx context.Context, _ any) (any, error) { return h.Report(ctx) })
	rt.Handle("GET /v1/partners/{partner}/health", admin(kithttp.NewServer(one,
		func(_ context.Context, r *http.Request) (any, error) { return r.PathValue("partner"), nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
	rt.Handle("GET /v1/partner-health", admin(kithttp.NewServer(all,
		func(context.Context, *http.Request) (any, error) { return nil, nil }, httpx.KitEncodeJSON(http.StatusOK), opts...)))
}

// recordDelivery wraps a webhook or postback handler so rec counts every
// answer, including the refusals the transport gives before the service
// runs (a body too large, a malformed form): the partner sees those too.
// The outcome is the error code the partner was answered with, or
// accepted (202) or duplicate (200), or http_<status> for a refusal by
// the middleware in between. With rec nil it returns h.
func recordDelivery(rec DeliveryRecorder, h http.Handler) http.Handler {
	if rec == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slot := &errSlot{}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), errSlotKey{}, slot)))
		outcome := conversion.OutcomeAccepted
		switch {
		case slot.err != nil:
			outcome, _ = errs.Public(slot.err)
		case slot.outcome != "":
			outcome = slot.outcome
		case sw.status == http.StatusOK:
			outcome = conversion.OutcomeDuplicate
		case sw.status != http.StatusAccepted:
			// Refused before the endpoint ran, so with no error to read:
			// by StrictQuery (a malformed query string, 400). Counted by
			// its status, in the form the store takes (conversion.ValidOutcome).
			outcome = "http_" + strconv.Itoa(sw.status)
		}
		rec.Record(r.PathValue("partner"), outcome, errors.Is(slot.err, conversion.ErrPartnerNotFound))
	})
}

type errSlotKey struct{}

// errSlot carries, from the endpoint to recordDelivery, the error a
// delivery was refused with, or an outcome its status does not say (a
// test delivery's 200).
type errSlot struct {
	err     error
	outcome string
}

// keepError is the go-kit error handler of the delivery routes: it hands
// the error to recordDelivery.
var keepError = kithttp.ServerErrorHandler(errorHandlerFunc(func(ctx context.Context, err error) {
	if s, ok := ctx.Value(errSlotKey{}).(*errSlot); ok {
		s.err = err
	}
}))

type errorHandlerFunc func(ctx context.Context, err error)

func (f errorHandlerFunc) Handle(ctx context.Context, err error) { f(ctx, err) }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
