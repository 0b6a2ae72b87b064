package reporting

import (
	"context"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/pkg/rfc3339"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// Store is what the service reads and writes.
type Store interface {
	Commissions(ctx context.Context, q report.Query, emit func(report.Row) error) error
	ClosedPeriods(ctx context.Context, from, to time.Time) ([]string, error)
	FinalDays(ctx context.Context, from, to time.Time, zone *time.Location) ([]report.DayRange, error)
	FinanceZone() *time.Location
	ClosePeriod(ctx context.Context, month, now time.Time, actor string) (report.Period, error)
	// RefreshClosedFigures records again the figures month closed with,
	// for a close made at closedAt and still in force.
	RefreshClosedFigures(ctx context.Context, month, closedAt time.Time) error
	ReopenPeriod(ctx context.Context, month, now time.Time, actor string) (report.Period, error)
	Periods(ctx context.Context) ([]report.Period, []report.PeriodChange, error)
	FXRates(ctx context.Context, r report.RateFilter) ([]report.Rate, error)
	// PutFXRates returns ErrPeriodClosed (409 period_closed) for a rate
	// that would change a closed month.
	PutFXRates(ctx context.Context, rates []report.Rate, actor string) error
	AddRemittance(ctx context.Context, r payout.Remittance, actor string) (payout.Remittance, bool, error)
	Statement(ctx context.Context, partner string, month time.Time) ([]payout.StatementLine, error)
	partnerKnower
	SettlementComparer
	SettlementApplier
	Reconciliation(ctx context.Context, month time.Time) ([]payout.ReconciliationLine, error)
}

// Errors the service returns.
var (
	ErrUnknownPartner = errs.New(errs.NotFound, "unknown_partner", "the ledger has nothing for this partner")
	ErrNoRates        = errs.New(errs.Unprocessable, "no_rates", "send at least one rate")
)

// Ingest waits until reporting has stored every event Kafka held when it
// was called (kafkax.Consumed), or ctx ends.
type Ingest interface {
	Wait(ctx context.Context) error
}

// Service answers finance's questions.
type Service struct {
	store  Store
	now    clock.Clock
	ingest Ingest // nil: closing a month does not wait (tools without Kafka)
}

// New returns a service over store. now is the clock behind every date it
// decides (the running month, a report's default period, as-of times); a
// nil clock is the system's.
func New(store Store, now clock.Clock) *Service {
	return &Service{store: store, now: clock.OrSystem(now)}
}

// WaitForIngest makes closing a month wait for ingest (ClosePeriod).
func (s *Service) WaitForIngest(ingest Ingest) *Service {
	s.ingest = ingest
	return s
}

// ErrIngestBehind is ClosePeriod's answer while reporting has not stored
// what Kafka holds: closing then would leave events recorded before the
// close to change the closed month when they are stored.
var ErrIngestBehind = errs.New(errs.Unavailable, "ingest_behind",
	"reporting cannot tell yet that it has stored every event recorded so far (its ingest is behind, or Kafka is not answering), so the month cannot be closed now: try again in a few seconds")

// closeWait bounds each of ClosePeriod's waits for ingest, and
// closeSettle is how long after the close instant it looks at what Kafka
// holds, for the events published just before it and still on their way.
const (
	closeWait   = 10 * time.Second
	closeSettle = 250 * time.Millisecond
)

// FinanceZone is the zone months are closed in (FINANCE_TIME_ZONE).
func (s *Service) FinanceZone() *time.Location { return s.store.FinanceZone() }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Meta describes a report before its rows are read.
func (s *Service) Meta(ctx context.Context, q report.Query) (report.Meta, error) {
	closed, err := s.store.ClosedPeriods(ctx, q.From, q.To)
	if err != nil {
		return report.Meta{}, err
	}
	final, err := s.store.FinalDays(ctx, q.From, q.To, q.TZ)
	if err != nil {
		return report.Meta{}, err
	}
	return report.Meta{From: q.FromDate, To: q.ToDate, TZ: q.TZ.String(), GroupBy: q.GroupBy, Currency: q.Currency,
		AsOf: s.now().UTC().Truncate(time.Millisecond), ClosedPeriods: closed,
		FinanceTimeZone: s.store.FinanceZone().String(), FinalDays: final}, nil
}

// Commissions streams the report's rows to emit. An error before the
// first row (a missing exchange rate, say) means nothing was emitted.
func (s *Service) Commissions(ctx context.Context, q report.Query, emit func(report.Row) error) error {
	return s.store.Commissions(ctx, q, emit)
}

// PutFXRates validates every rate and stores them all, or none.
func (s *Service) PutFXRates(ctx context.Context, rates []report.Rate) (int, error) {
	if len(rates) == 0 {
		return 0, ErrNoRates
	}
	var f errs.Fields
	type pairOnDate struct{ date, base, quote string }
	seen := map[pairOnDate]int{}
	values := make([]*big.Rat, len(rates))
	for i, r := range rates {
		v, err := report.ParseRate(r)
		if err != nil {
			for _, fe := range errs.FieldsOf(err) {
				f.Add("rates["+strconv.Itoa(i)+"]."+fe.Field, "%s", fe.Message)
			}
			continue
		}
		values[i] = v
		// Which of two rates for one pair and date would hold is not
		// for the store's order to decide: the same rate twice is one.
		k := pairOnDate{r.Date, r.Base, r.Quote}
		if j, ok := seen[k]; ok && values[j].Cmp(v) != 0 {
			f.Add("rates["+strconv.Itoa(i)+"].rate", "rates[%d] gives %s/%s on %s another rate (%s, not %s)",
				j, r.Base, r.Quote, r.Date, rates[j].Rate, r.Rate)
			continue
		}
		seen[k] = i
	}
	if err := f.Err("invalid_rate"); err != nil {
		return 0, err
	}
	return len(rates), s.store.PutFXRates(ctx, rates, ActorOf(ctx))
}

// FXRates lists the stored rates the request picks: years of daily rates
// of many currencies are hundreds of thousands, so a caller may ask for a
// range of dates.
func (s *Service) FXRates(ctx context.Context, r report.RateFilter) ([]report.Rate, error) {
	if r.Currency != "" && !money.IsCurrency(r.Currency) {
		return nil, errs.Newf(errs.Unprocessable, "invalid_currency", "%q is not an ISO 4217 currency code", r.Currency)
	}
	var f errs.Fields
	for _, d := range []struct{ name, v string }{{"from", r.From}, {"to", r.To}} {
		if _, err := time.Parse(time.DateOnly, d.v); err != nil && d.v != "" {
			f.Add(d.name, "%q is not a date (YYYY-MM-DD)", d.v)
		}
	}
	if err := f.Err("invalid_query"); err != nil {
		return nil, err
	}
	return s.store.FXRates(ctx, r)
}

var partnerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// RemittanceRequest is money a partner says it paid.
type RemittanceRequest struct {
	Partner    string `json:"partner"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	ReceivedAt string `json:"received_at"`
	Reference  string `json:"reference"`
	// Orders names the orders the remittance pays (optional).
	Orders []RemittanceOrder `json:"orders"`
	// Report is the network's payment report instead (a CSV in a
	// settlement export format, ReportFormat and Mapping as
	// settlementfile.Lookup reads them): its approved lines name the
	// orders (remittance_orders.go).
	Report       []byte     `json:"-"`
	ReportFormat string     `json:"-"`
	Mapping      url.Values `json:"-"`
}

// RemittanceOrder is one order a remittance pays, and how much of it.
type RemittanceOrder struct {
	OrderID string `json:"order_id"`
	Amount  string `json:"amount"`
}

// AddRemittance records a remittance and applies it; the same reference
// again is an idempotent replay (created false).
func (s *Service) AddRemittance(ctx context.Context, req RemittanceRequest) (payout.Remittance, bool, error) {
	if req.Report != nil {
		if err := ordersFromReport(&req); err != nil {
			return payout.Remittance{}, false, err
		}
	}
	var f errs.Fields
	if !partnerID.MatchString(req.Partner) {
		f.Add("partner", "%q is not a partner id", req.Partner)
	}
	var amount money.Amount
	if !money.IsCurrency(req.Currency) {
		f.Add("currency", "%q is not an ISO 4217 currency code", req.Currency)
	}
	if req.Amount == "" {
		f.Add("amount", "is required: a decimal string in the currency's units, such as \"1234.56\"")
	} else if !money.IsCurrency(req.Currency) {
		// Its minor units are the currency's: the currency's error says why.
	} else if a, err := money.Parse(req.Amount, req.Currency); err != nil {
		f.Add("amount", "%q is not an amount of %s: %v", req.Amount, req.Currency, err)
	} else if a.Minor <= 0 {
		f.Add("amount", "must be more than zero")
	} else if a.Minor > events.MaxAmountMinor {
		// The ceiling events have: a remittance is money received for
		// them, and past it a typo, not a payment.
		f.Add("amount", "is more than %s %s", money.Amount{Minor: events.MaxAmountMinor, Currency: a.Currency}, a.Currency)
	} else {
		amount = a
	}
	received, err := rfc3339.Parse(req.ReceivedAt) // strict: +24:00 moved a remittance into the month before
	// PostgreSQL keeps microseconds, rounding: cut to them first, so the
	// checks see the time stored, and a retry with seven digits (as .NET
	// writes) is the same remittance, not a 409.
	received = received.Truncate(time.Microsecond)
	switch {
	case req.ReceivedAt == "":
		received = s.now().Truncate(time.Microsecond)
	case err != nil:
		f.Add("received_at", "%q is not an RFC 3339 time", req.ReceivedAt)
	case received.After(s.now().Add(24 * time.Hour)):
		f.Add("received_at", "is in the future")
	case !events.InYears(received): // a typo such as 0001 would open every later statement
		f.Add("received_at", "is before the year 2000")
	}
	if req.Reference == "" || len(req.Reference) > 200 {
		f.Add("reference", "is required (at most 200 characters): it makes a retried POST safe")
	} else if strings.ContainsFunc(req.Reference, unicode.IsControl) {
		f.Add("reference", "must not hold control characters")
	}
	orders := remittanceOrders(req, amount, &f)
	if err := f.Err("invalid_remittance"); err != nil {
		return payout.Remittance{}, false, err
	}
	// Money from a partner the ledger has nothing for is a typo in the
	// partner id, not a payment: stored, it would make the id known and
	// give it a statement of its own.
	if err := knownPartner(ctx, s.store, req.Partner); err != nil {
		return payout.Remittance{}, false, err
	}
	return s.store.AddRemittance(ctx, payout.Remittance{Partner: req.Partner, Amount: amount.Minor,
		Currency: req.Currency, ReceivedAt: received, Reference: req.Reference, Orders: orders}, ActorOf(ctx))
}

// partnerKnower says whether the ledger holds anything for a partner.
type partnerKnower interface {
	PartnerKnown(ctx context.Context, partner string) (bool, error)
}

// knownPartner is nil when the ledger holds something for partner (a
// conversion, a ledger entry or a remittance), ErrUnknownPartner when it
// holds nothing: the routes that answer for one partner ask it first.
func knownPartner(ctx context.Context, store partnerKnower, partner string) error {
	known, err := store.PartnerKnown(ctx, partner)
	if err != nil {
		return err
	}
	if !known {
		return ErrUnknownPartner
	}
	return nil
}

// Statement is a partner's monthly statement.
type Statement struct {
	Partner string
	Month   string
	AsOf    time.Time
	Lines   []payout.StatementLine
}

// Statement returns partner's statement for month (YYYY-MM).
func (s *Service) Statement(ctx context.Context, partner, month string) (Statement, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return Statement{}, err
	}
	if err := knownPartner(ctx, s.store, partner); err != nil {
		return Statement{}, err
	}
	lines, err := s.store.Statement(ctx, partner, m)
	if err != nil {
		return Statement{}, err
	}
	return Statement{Partner: partner, Month: month, AsOf: s.now().UTC().Truncate(time.Millisecond), Lines: lines}, nil
}

// ParseMonth reads YYYY-MM as its first instant, UTC.
func ParseMonth(month string) (time.Time, error) {
	m, err := time.Parse("2006-01", month)
	if err != nil {
		return time.Time{}, errs.Newf(errs.Unprocessable, "invalid_month", "month %q is not YYYY-MM", month)
	}
	if !events.InYears(m) { // no event is dated outside them (0000-01 was a database error)
		return time.Time{}, errs.Newf(errs.Unprocessable, "invalid_month", "month %q is outside the years 2000 to 2099", month)
	}
	return m, nil
}

// ClosePeriod closes a month (YYYY-MM) in the finance time zone: its
// figures never change again, unless it is reopened.
//
// Changes are placed by when Kafka recorded them, so an event recorded
// before the close but stored after it would change the closed month
// (from a check of times: about 30 ms between a webhook and the close
// moved September's statement). So, with an Ingest: first, what Kafka
// holds is stored (else 503 ingest_behind, and nothing is closed); then
// the month is closed at now; then, once what Kafka holds a moment later
// is stored too (the events recorded before now), the month's figures are
// recorded again as it closed with them. Events recorded after now are
// adjustments in the open month, as ever.
func (s *Service) ClosePeriod(ctx context.Context, month string) (report.Period, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return report.Period{}, err
	}
	if s.ingest != nil {
		// What is answered from the database alone is answered at once,
		// whatever Kafka's state: a month not ended (422), or one closed
		// already (as it is).
		zone := s.store.FinanceZone()
		start, end := report.MonthBounds(m, zone)
		if s.now().Before(end) {
			return report.Period{}, report.ErrOpenMonth
		}
		closed, err := s.store.ClosedPeriods(ctx, start, end)
		if err != nil {
			return report.Period{}, err
		}
		if !slices.Contains(closed, m.Format("2006-01")) {
			if err := s.waitIngest(ctx); err != nil {
				return report.Period{}, err
			}
		}
	}
	at := s.now().UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	p, err := s.store.ClosePeriod(ctx, m, at, ActorOf(ctx))
	if err != nil || s.ingest == nil || p.ClosedAt == nil || !p.ClosedAt.Equal(at) {
		return p, err // closed before: its figures are as it closed with them
	}
	// Closed: finish even if the caller has gone. Should ingest still be
	// behind after closeWait (it was caught up a moment ago), an event
	// recorded before the close and stored later changes the month, and
	// `reporting verify` names it.
	ctx = context.WithoutCancel(ctx)
	time.Sleep(closeSettle)
	_ = s.waitIngest(ctx)
	return p, s.store.RefreshClosedFigures(ctx, m, at)
}

// waitIngest waits up to closeWait for ingest; ErrIngestBehind if not.
func (s *Service) waitIngest(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	if err := s.ingest.Wait(wctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errs.Wrap(errs.Unavailable, "ingest_behind", ErrIngestBehind.Error(), err)
	}
	return nil
}

// ReopenPeriod reopens a closed month (YYYY-MM), audited: the only way to
// change its figures or its rates. Callers hold the admin scope.
func (s *Service) ReopenPeriod(ctx context.Context, month string) (report.Period, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return report.Period{}, err
	}
	return s.store.ReopenPeriod(ctx, m, s.now(), ActorOf(ctx))
}

// PeriodsResponse lists the closed months, the zone they close in, and
// every change of a month's status.
type PeriodsResponse struct {
	Periods         []report.Period       `json:"periods"`
	FinanceTimeZone string                `json:"finance_time_zone"`
	Audit           []report.PeriodChange `json:"audit"`
}

// Settlement is an imported settlement report and how it differs from the
// ledger.
type Settlement struct {
	ID          int64
	Partner     string
	Month       string
	Lines       int
	Differences []payout.Difference
}

// Reconciliation compares what every partner paid with what the ledger
// expected, through the end of month (YYYY-MM).
func (s *Service) Reconciliation(ctx context.Context, month string) ([]payout.ReconciliationLine, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return nil, err
	}
	return s.store.Reconciliation(ctx, m)
}

// Periods lists the closed months and the audit of their changes.
func (s *Service) Periods(ctx context.Context) (PeriodsResponse, error) {
	ps, audit, err := s.store.Periods(ctx)
	return PeriodsResponse{Periods: ps, FinanceTimeZone: s.store.FinanceZone().String(), Audit: audit}, err
}

type actorKey struct{}

// WithActor says who is acting in ctx (a token's scope and fingerprint):
// finance actions journal it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the actor WithActor set, or "unknown".
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "unknown"
}
