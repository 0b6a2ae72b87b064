package conversion

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Partner health (issue 14): what each partner's deliveries came to, so a
// broken integration (a rotated secret, a changed macro, a network that
// stopped sending) shows before the money is missed.
//
// Counts are kept per (partner, hour, outcome) in the store, never per
// request, so storage is bounded by partners × hours × outcomes, and
// hours older than HealthKeep are pruned. Requests naming no partner are
// counted under one bucket, UnknownPartner, never one row per junk id.

// Outcomes of a delivery besides a rejection's error code.
const (
	OutcomeAccepted  = "accepted"  // 202: a new event
	OutcomeDuplicate = "duplicate" // 200: an identical replay
	OutcomeTest      = "test"      // 200: the network's test delivery, recorded nowhere
	// OutcomeUnclassified counts a delivery whose outcome is not
	// ValidOutcome (none today: a guard for the store's check).
	OutcomeUnclassified = "unclassified"
)

// ValidOutcome reports whether outcome is one the store takes: 1 to 64
// of a-z, 0-9 and _ (migration 0005's check), as every error code is.
func ValidOutcome(outcome string) bool {
	if len(outcome) == 0 || len(outcome) > 64 {
		return false
	}
	for _, c := range []byte(outcome) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// UnknownPartner is the bucket of requests whose partner id names no
// partner (it cannot be a partner id: ids start with [a-z0-9]).
const UnknownPartner = "_unknown"

// HealthKeep is how long hourly counts are kept: the 7-day window plus a
// day of margin.
const HealthKeep = 8 * 24 * time.Hour

// Windows the health report sums over.
const (
	HealthDay  = 24 * time.Hour
	HealthWeek = 7 * 24 * time.Hour
)

// HealthCount is the number of deliveries of one partner (or
// UnknownPartner) with one outcome in the hour starting at Hour.
type HealthCount struct {
	Partner string
	Hour    time.Time
	Outcome string
	N       int64
}

// HealthStore keeps the hourly counts and each partner's last accepted
// event (postgres.Store).
type HealthStore interface {
	// AddHealth adds counts to the stored ones and raises each partner's
	// last accepted time to the given one when later.
	AddHealth(ctx context.Context, counts []HealthCount, lastAccepted map[string]time.Time) error
	// HealthCounts returns the stored counts of hours at or after since,
	// of one partner, or of every partner and UnknownPartner when partner
	// is "".
	HealthCounts(ctx context.Context, partner string, since time.Time) ([]HealthCount, error)
	// LastAccepted returns the time of each partner's last accepted event.
	LastAccepted(ctx context.Context) (map[string]time.Time, error)
	// PruneHealth deletes the counts of hours before cutoff.
	PruneHealth(ctx context.Context, cutoff time.Time) (int, error)
	// PartnerIDs returns the id of every partner.
	PartnerIDs(ctx context.Context) ([]string, error)
}

// HealthWindow sums a partner's deliveries over a window.
type HealthWindow struct {
	Accepted  int64 `json:"accepted"`
	Duplicate int64 `json:"duplicate"`
	Test      int64 `json:"test"` // the network's test deliveries
	Rejected  int64 `json:"rejected"`
	// RejectedByReason counts rejections by error code (invalid_signature,
	// missing_field, …), as the partner was answered.
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
}

func (w *HealthWindow) add(outcome string, n int64) {
	switch outcome {
	case OutcomeAccepted:
		w.Accepted += n
	case OutcomeDuplicate:
		w.Duplicate += n
	case OutcomeTest:
		w.Test += n
	default:
		w.Rejected += n
		w.RejectedByReason[outcome] += n
	}
}

func newWindow() HealthWindow { return HealthWindow{RejectedByReason: map[string]int64{}} }

// PartnerHealth is one partner's health.
type PartnerHealth struct {
	Partner string `json:"partner"`
	// LastAcceptedAt is when its last new event was accepted (null: never).
	LastAcceptedAt *time.Time `json:"last_accepted_at"`
	// Silent: it sent in the week before it fell quiet, and no event has
	// been accepted from it for more than SilentAfter.
	Silent bool `json:"silent"`
	// SilentSeconds is how long ago its last event was accepted (null:
	// never).
	SilentSeconds *int64       `json:"silent_seconds"`
	Last24h       HealthWindow `json:"last_24h"`
	Last7d        HealthWindow `json:"last_7d"`
}

// HealthReport is every partner's health, and the deliveries that named no
// partner.
type HealthReport struct {
	At          time.Time       `json:"at"`
	SilentAfter string          `json:"silent_after"`
	Partners    []PartnerHealth `json:"partners"`
	// UnknownPartner counts the requests whose partner id named no
	// partner, all such ids together.
	UnknownPartner PartnerHealth `json:"unknown_partner"`
}

// isSilent: nothing accepted for more than silentAfter, and something was
// accepted in the week before the silence began (a partner that stopped
// long ago, or never started, is not alerted on for ever).
func isSilent(last time.Time, now time.Time, silentAfter time.Duration) bool {
	if last.IsZero() {
		return false
	}
	quiet := now.Sub(last)
	return quiet > silentAfter && quiet <= silentAfter+HealthWeek
}

// Health reports partner health from the store; it counts nothing itself
// (HealthRecorder does).
type Health struct {
	Store HealthStore
	Now   clock.Clock
	// SilentAfter is how long a partner that used to send may stay quiet
	// before it is reported silent (SILENT_AFTER, default 24h).
	SilentAfter time.Duration
}

// Partner returns one partner's health (ErrPartnerNotFound when no
// partner has the id).
func (h *Health) Partner(ctx context.Context, id string) (PartnerHealth, error) {
	ids, err := h.Store.PartnerIDs(ctx)
	if err != nil {
		return PartnerHealth{}, fmt.Errorf("partner health %s: %w", id, err)
	}
	if !slices.Contains(ids, id) {
		return PartnerHealth{}, ErrPartnerNotFound
	}
	r, err := h.report(ctx, id, []string{id})
	if err != nil {
		return PartnerHealth{}, fmt.Errorf("partner health %s: %w", id, err)
	}
	return r.Partners[0], nil
}

// Report returns every partner's health.
func (h *Health) Report(ctx context.Context) (HealthReport, error) {
	ids, err := h.Store.PartnerIDs(ctx)
	if err != nil {
		return HealthReport{}, fmt.Errorf("partner health: %w", err)
	}
	r, err := h.report(ctx, "", ids)
	if err != nil {
		return HealthReport{}, fmt.Errorf("partner health: %w", err)
	}
	return r, nil
}

func (h *Health) silentAfter() time.Duration {
	if h.SilentAfter <= 0 {
		return 24 * time.Hour
	}
	return h.SilentAfter
}

func (h *Health) report(ctx context.Context, partner string, ids []string) (HealthReport, error) {
	now := clock.OrSystem(h.Now)()
	// Hourly buckets: a window takes every hour that began after its
	// start, so it reaches back up to an hour less than its length (the
	// current hour is partial).
	dayFrom, weekFrom := now.Add(-HealthDay).Truncate(time.Hour).Add(time.Hour), now.Add(-HealthWeek).Truncate(time.Hour).Add(time.Hour)
	counts, err := h.Store.HealthCounts(ctx, partner, weekFrom)
	if err != nil {
		return HealthReport{}, err
	}
	last, err := h.Store.LastAccepted(ctx)
	if err != nil {
		return HealthReport{}, err
	}
	byID := map[string]*PartnerHealth{}
	newHealth := func(id string) *PartnerHealth {
		p := &PartnerHealth{Partner: id, Last24h: newWindow(), Last7d: newWindow()}
		if t, ok := last[id]; ok {
			t := t.UTC()
			secs := int64(now.Sub(t) / time.Second)
			p.LastAcceptedAt, p.SilentSeconds = &t, &secs
			p.Silent = isSilent(t, now, h.silentAfter())
		}
		byID[id] = p
		return p
	}
	for _, id := range ids {
		newHealth(id)
	}
	unknown := newHealth(UnknownPartner)
	for _, c := range counts {
		p := byID[c.Partner]
		if p == nil {
			continue // a partner's counts when only another was asked for
		}
		if !c.Hour.Before(weekFrom) {
			p.Last7d.add(c.Outcome, c.N)
		}
		if !c.Hour.Before(dayFrom) {
			p.Last24h.add(c.Outcome, c.N)
		}
	}
	r := HealthReport{At: now.UTC(), SilentAfter: h.silentAfter().String(), UnknownPartner: *unknown}
	for _, id := range ids {
		r.Partners = append(r.Partners, *byID[id])
	}
	slices.SortFunc(r.Partners, func(a, b PartnerHealth) int { return cmp.Compare(a.Partner, b.Partner) })
	return r, nil
}

// HealthRecorder counts deliveries in memory and adds the counts to the
// store every Interval, so a burst of requests (or of junk) costs one
// upsert per (partner, hour, outcome), not one per request. Replicas each
// add their own counts; the store sums them.
//
// It also keeps the per-partner metrics (seconds since the last accepted
// event, silent or not) from what it reads back at each flush, for known
// partners only (contract v1.1: labels carry only known partner ids).
type HealthRecorder struct {
	Store HealthStore
	Now   clock.Clock
	// Interval is how often counts are written (default 10s).
	Interval time.Duration
	// SilentAfter: see Health.
	SilentAfter time.Duration
	Logger      *slog.Logger

	mu      sync.Mutex
	known   map[string]bool // partner ids, refreshed at each flush
	pending map[healthKey]int64
	last    map[string]time.Time
	pruned  time.Time
	gauges  map[string]PartnerHealth // by partner, for the metrics
}

type healthKey struct {
	partner, outcome string
	hour             time.Time
}

// maxPending bounds the counts held between flushes while the database is
// down: beyond it, older hours are dropped (they are still in the request
// metrics).
const maxPending = 100_000

func (h *HealthRecorder) init() {
	if h.pending == nil {
		h.pending, h.last, h.known = map[healthKey]int64{}, map[string]time.Time{}, map[string]bool{}
	}
}

// Record counts one delivery to partner with outcome (OutcomeAccepted,
// OutcomeDuplicate, or a rejection's error code). notFound says the
// service answered that no partner has the id. An outcome the store
// would refuse (not ValidOutcome) counts as OutcomeUnclassified: one such
// row refused would otherwise hold back every count of the flush.
func (h *HealthRecorder) Record(partner, outcome string, notFound bool) {
	if !ValidOutcome(outcome) {
		outcome = OutcomeUnclassified
	}
	now := clock.OrSystem(h.Now)()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	switch {
	case notFound:
		partner = UnknownPartner
	case outcome == OutcomeAccepted || outcome == OutcomeDuplicate || outcome == OutcomeTest:
		h.known[partner] = true // the service just found it
	case !h.known[partner]:
		// Refused before the service looked the partner up (a body too
		// large, a malformed form) and not known at the last flush.
		partner = UnknownPartner
	}
	if len(h.pending) >= maxPending {
		return
	}
	h.pending[healthKey{partner: partner, outcome: outcome, hour: now.UTC().Truncate(time.Hour)}]++
	if outcome == OutcomeAccepted && now.After(h.last[partner]) {
		h.last[partner] = now
	}
}

// Run flushes every Interval until ctx ends, then once more.
func (h *HealthRecorder) Run(ctx context.Context) error {
	interval := h.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	logger := h.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		switch err := h.Flush(ctx); {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, errs.Unprocessable):
			logger.Error("partner health: counts refused by the database; dropped", "error", err.Error())
		default:
			logger.Warn("partner health: cannot write counts; will retry", "retry_in", interval.String(), "error", err.Error())
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := h.Flush(fctx); err != nil {
				logger.Warn("partner health: counts lost at shutdown", "error", err.Error())
			}
			return nil
		case <-tick.C:
		}
	}
}

// Flush writes the counts held in memory, prunes old hours (at most once
// an hour), refreshes the known partners and the metrics. Counts it could
// not write are kept for the next flush.
func (h *HealthRecorder) Flush(ctx context.Context) error {
	h.mu.Lock()
	h.init()
	pending, last := h.pending, h.last
	h.pending, h.last = map[healthKey]int64{}, map[string]time.Time{}
	h.mu.Unlock()

	counts := make([]HealthCount, 0, len(pending))
	for k, n := range pending {
		counts = append(counts, HealthCount{Partner: k.partner, Hour: k.hour, Outcome: k.outcome, N: n})
	}
	delete(last, UnknownPartner)
	if len(counts) > 0 || len(last) > 0 {
		if err := h.Store.AddHealth(ctx, counts, last); err != nil {
			if errors.Is(err, errs.Unprocessable) {
				// Refused for what it holds (a value a check of the
				// table refuses): no retry can change that, and kept it
				// would hold back every later count. Dropped, loudly.
				return fmt.Errorf("partner health counts refused, %d dropped: %w", len(counts), err)
			}
			h.restore(pending, last)
			return fmt.Errorf("add partner health counts: %w", err)
		}
	}
	now := clock.OrSystem(h.Now)()
	if now.Sub(h.pruned) >= time.Hour {
		if _, err := h.Store.PruneHealth(ctx, now.Add(-HealthKeep)); err != nil {
			return fmt.Errorf("prune partner health: %w", err)
		}
		h.pruned = now
	}
	report, err := (&Health{Store: h.Store, Now: h.Now, SilentAfter: h.SilentAfter}).Report(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	gauges := map[string]PartnerHealth{}
	for _, p := range report.Partners {
		known[p.Partner] = true
		gauges[p.Partner] = p
	}
	h.mu.Lock()
	maps.Copy(known, h.known) // partners first seen since the read
	h.known, h.gauges = known, gauges
	h.mu.Unlock()
	return nil
}

func (h *HealthRecorder) restore(pending map[healthKey]int64, last map[string]time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, n := range pending {
		if len(h.pending) >= maxPending {
			break
		}
		h.pending[k] += n
	}
	for p, t := range last {
		if t.After(h.last[p]) {
			h.last[p] = t
		}
	}
}

// Instrument registers, per known partner, the seconds since its last
// accepted event (conversions.partner.silence; absent for a partner that
// never sent) and whether it is silent (conversions.partner.silent, 0 or
// 1), as of the last flush.
func (h *HealthRecorder) Instrument(meter metric.Meter) error {
	silence, err := meter.Int64ObservableGauge("conversions.partner.silence",
		metric.WithDescription("Seconds since the partner's last accepted event, as of the last partner-health flush."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	silent, err := meter.Int64ObservableGauge("conversions.partner.silent",
		metric.WithDescription("1 when the partner sent in the week before and nothing was accepted from it for more than SILENT_AFTER."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		for id, p := range h.gauges {
			attrs := metric.WithAttributes(attribute.String("partner", id))
			if p.SilentSeconds != nil {
				o.ObserveInt64(silence, *p.SilentSeconds, attrs)
			}
			v := int64(0)
			if p.Silent {
				v = 1
			}
			o.ObserveInt64(silent, v, attrs)
		}
		return nil
	}, silence, silent)
	return err
}
