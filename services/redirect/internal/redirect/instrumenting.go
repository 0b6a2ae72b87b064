package redirect

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
)

// Instrument counts clicks by outcome and bot verdicts by reason.
//
// Click is the hot path: it counts with one atomic add into a fixed slot
// per outcome and reason, and the counters are observed when metrics are
// collected (a scrape), not on every click. An SDK counter's Add costs
// about a microsecond a click (its attribute set looked up in a
// synchronised map); the atomic add costs nanoseconds, and the exported
// series are the same.
func Instrument(s Service, meter metric.Meter) (Service, error) {
	imported, err := meter.Int64Counter("redirect.links.imported",
		metric.WithDescription("Feed rows imported, by result: created, updated, failed."))
	if err != nil {
		return nil, err
	}
	m := &instrumenting{next: s, imported: imported}
	for o := range outcomeCount {
		attrs := []attribute.KeyValue{attribute.String("outcome", outcomeNames[o])}
		// Refusals by limit: which one fires tells how to tune it.
		switch o {
		case rateLimitedVisitor:
			attrs = append(attrs, attribute.String("limit", "visitor"))
		case rateLimitedNetwork:
			attrs = append(attrs, attribute.String("limit", "network"))
		}
		m.outcomeAttrs[o] = metric.WithAttributeSet(attribute.NewSet(attrs...))
	}
	m.reasons = botcheck.Reasons()
	m.reasonCounts = make([]atomic.Int64, len(m.reasons))
	for _, r := range m.reasons {
		m.reasonAttrs = append(m.reasonAttrs, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r))))
	}
	clicks, err := meter.Int64ObservableCounter("redirect.clicks",
		metric.WithDescription("Clicks on /c/{code} by outcome: recorded, excluded, head, not_found, rate_limited (by limit: visitor, network), not_recorded."))
	if err != nil {
		return nil, err
	}
	bots, err := meter.Int64ObservableCounter("redirect.bot_verdicts",
		metric.WithDescription("Recorded clicks judged to be bots, by reason."))
	if err != nil {
		return nil, err
	}
	// Only counts above zero are observed: a series appears with its
	// first click, as with a counter's Add.
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i := range m.outcomes {
			if n := m.outcomes[i].Load(); n > 0 {
				o.ObserveInt64(clicks, n, m.outcomeAttrs[i])
			}
		}
		for i := range m.reasonCounts {
			if n := m.reasonCounts[i].Load(); n > 0 {
				o.ObserveInt64(bots, n, m.reasonAttrs[i])
			}
		}
		return nil
	}, clicks, bots); err != nil {
		return nil, err
	}
	return m, nil
}

// Click outcomes, the slots of instrumenting.outcomes.
const (
	recorded = iota
	excluded
	head
	notFound
	rateLimitedVisitor
	rateLimitedNetwork
	notRecorded
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"recorded", "excluded", "head", "not_found", "rate_limited", "rate_limited", "not_recorded"}

// instrumenting counts in atomics, observed on collection (see Instrument).
type instrumenting struct {
	next     Service
	imported metric.Int64Counter

	outcomes     [outcomeCount]atomic.Int64
	outcomeAttrs [outcomeCount]metric.ObserveOption
	reasons      []string // botcheck.Reasons, in order
	reasonCounts []atomic.Int64
	reasonAttrs  []metric.ObserveOption
}

func (m *instrumenting) Click(ctx context.Context, req ClickRequest) (ClickResponse, error) {
	resp, err := m.next.Click(ctx, req)
	outcome := recorded
	switch {
	case err != nil && errs.KindOf(err) == errs.NotFound:
		outcome = notFound
	case errors.Is(err, ErrNetworkRateLimited):
		outcome = rateLimitedNetwork
	case err != nil && errs.KindOf(err) == errs.RateLimited:
		outcome = rateLimitedVisitor
	case err != nil:
		outcome = notRecorded
	case req.Head:
		outcome = head
	case resp.Excluded:
		outcome = excluded
	}
	m.outcomes[outcome].Add(1)
	if resp.Bot {
		for i, r := range m.reasons { // a handful of constants: a scan beats a map
			if r == resp.BotReason {
				m.reasonCounts[i].Add(1)
				break
			}
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
