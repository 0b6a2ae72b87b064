package conversion

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Instrument counts webhooks and postbacks by partner, source and outcome
// (accepted, duplicate, client_gone, or the error code of a rejection). A
// partner id that names no partner, or that could not be looked up, is
// counted as "unknown".
func Instrument(s Service, meter metric.Meter) (Service, error) {
	c, err := meter.Int64Counter("conversions.requests",
		metric.WithDescription("Webhooks and postbacks by partner, source and outcome: accepted, duplicate, client_gone (the sender hung up), or the rejection's error code."))
	if err != nil {
		return nil, err
	}
	return &instrumenting{Service: s, requests: c}, nil
}

type instrumenting struct {
	Service
	requests metric.Int64Counter
}

func (m *instrumenting) count(ctx context.Context, partner, source string, r Receipt, err error) {
	outcome := "accepted"
	switch {
	case errs.ClientGone(ctx, err):
		outcome = "client_gone" // the sender hung up: no server error (httpx answers 499)
	case err != nil:
		outcome, _ = errs.Public(err)
	case r.Duplicate:
		outcome = "duplicate"
	case r.Test:
		outcome = OutcomeTest
	}
	if errors.Is(err, ErrPartnerNotFound) || errors.As(err, new(unresolvedPartner)) {
		// Anyone may call any path: a label per unknown id would grow
		// without bound (contract v1.1: labels carry known partners only),
		// and while the store cannot say whether the id is a partner's,
		// it is not known to be one.
		partner = "unknown"
	}
	m.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("partner", partner),
		attribute.String("source", source), attribute.String("outcome", outcome)))
}

func (m *instrumenting) Webhook(ctx context.Context, req WebhookRequest) (Receipt, error) {
	r, err := m.Service.Webhook(ctx, req)
	m.count(ctx, req.Partner, "webhook", r, err)
	return r, err
}

func (m *instrumenting) Postback(ctx context.Context, req PostbackRequest) (Receipt, error) {
	r, err := m.Service.Postback(ctx, req)
	m.count(ctx, req.Partner, "postback", r, err)
	return r, err
}
