package redirect

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
)

// Instrument counts clicks by outcome and bot verdicts by reason.
func Instrument(s Service, meter metric.Meter) (Service, error) {
	clicks, err := meter.Int64Counter("redirect.clicks",
		metric.WithDescription("Clicks on /c/{code} by outcome: recorded, excluded, head, not_found, rate_limited (by limit: visitor, network), not_recorded."))
	if err != nil {
		return nil, err
	}
	bots, err := meter.Int64Counter("redirect.bot_verdicts",
		metric.WithDescription("Recorded clicks judged to be bots, by reason."))
	if err != nil {
		return nil, err
	}
	imported, err := meter.Int64Counter("redirect.links.imported",
		metric.WithDescription("Feed rows imported, by result: created, updated, failed."))
	if err != nil {
		return nil, err
	}
	m := &instrumenting{next: s, clicks: clicks, bots: bots, imported: imported, outcomes: map[string]metric.AddOption{}, reasons: map[string]metric.AddOption{}}
	for _, o := range []string{"recorded", "excluded", "head", "not_found", "not_recorded"} {
		m.outcomes[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	// Refusals by limit: which one fires tells how to tune it.
	for _, limit := range []string{"visitor", "network"} {
		m.outcomes["rate_limited_"+limit] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("outcome", "rate_limited"), attribute.String("limit", limit)))
	}
	for _, r := range botcheck.Reasons() {
		m.reasons[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	return m, nil
}

// instrumenting keeps one attribute set per outcome and reason, built once:
// Click is the hot path, and building sets per call costs allocations.
type instrumenting struct {
	next                   Service
	clicks, bots, imported metric.Int64Counter
	outcomes, reasons      map[string]metric.AddOption
}

func (m *instrumenting) Click(ctx context.Context, req ClickRequest) (ClickResponse, error) {
	resp, err := m.next.Click(ctx, req)
	outcome := "recorded"
	switch {
	case err != nil && errs.KindOf(err) == errs.NotFound:
		outcome = "not_found"
	case errors.Is(err, ErrNetworkRateLimited):
		outcome = "rate_limited_network"
	case err != nil && errs.KindOf(err) == errs.RateLimited:
		outcome = "rate_limited_visitor"
	case err != nil:
		outcome = "not_recorded"
	case req.Head:
		outcome = "head"
	case resp.Excluded:
		outcome = "excluded"
	}
	m.clicks.Add(ctx, 1, m.outcomes[outcome])
	if resp.Bot {
		if opt, ok := m.reasons[resp.BotReason]; ok {
			m.bots.Add(ctx, 1, opt)
		}
	}
	return resp, err
}

func (m *instrumenting) PutLink(ctx context.Context, l link.Link) (link.Link, bool, error) {
	return m.next.PutLink(ctx, l)
}

func (m *instrumenting) GetLink(ctx context.Context, code string) (link.Link, error) {
	return m.next.GetLink(ctx, code)
}

func (m *instrumenting) ListLinks(ctx context.Context, q ListQuery) (ListPage, error) {
	return m.next.ListLinks(ctx, q)
}

func (m *instrumenting) ImportLinks(ctx context.Context, rows feed.Reader) (ImportResult, error) {
	res, err := m.next.ImportLinks(ctx, rows)
	for result, n := range map[string]int{"created": res.Created, "updated": res.Updated, "failed": res.Failed} {
		m.imported.Add(ctx, int64(n), metric.WithAttributes(attribute.String("result", result)))
	}
	return res, err
}
