package reporting

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// Store is what the service reads and writes.
type Store interface {
	Commissions(ctx context.Context, q report.Query, emit func(report.Row) error) error
	ClosedPeriods(ctx context.Context, from, to time.Time) ([]string, error)
	ClosePeriod(ctx context.Context, month, now time.Time) (report.Period, error)
	Periods(ctx context.Context) ([]report.Period, error)
	FXRates(ctx context.Context, currency string) ([]report.Rate, error)
	PutFXRates(ctx context.Context, rates []report.Rate) error
	AddRemittance(ctx context.Context, r payout.Remittance) (payout.Remittance, bool, error)
	Statement(ctx context.Context, partner string, month time.Time) ([]payout.StatementLine, error)
	PartnerKnown(ctx context.Context, partner string) (bool, error)
	ImportSettlement(ctx context.Context, partner string, month time.Time, lines []payout.Line) (int64, []payout.Difference, error)
	Reconciliation(ctx context.Context, month time.Time) ([]payout.ReconciliationLine, error)
}

// Errors the service returns.
var (
	ErrUnknownPartner = errs.New(errs.NotFound, "unknown_partner", "the ledger has nothing for this partner")
	ErrNoRates        = errs.New(errs.Unprocessable, "no_rates", "send at least one rate")
)

// Service answers finance's questions.
type Service struct {
	store Store
	now   clock.Clock
}

// New returns a service over store. now is the clock behind every date it
// decides (the running month, a report's default period, as-of times); a
// nil clock is the system's.
func New(store Store, now clock.Clock) *Service {
	return &Service{store: store, now: clock.OrSystem(now)}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Meta describes a report before its rows are read.
func (s *Service) Meta(ctx context.Context, q report.Query) (report.Meta, error) {
	closed, err := s.store.ClosedPeriods(ctx, q.From, q.To)
	if err != nil {
		return report.Meta{}, err
	}
	return report.Meta{From: q.FromDate, To: q.ToDate, TZ: q.TZ.String(), GroupBy: q.GroupBy, Currency: q.Currency,
		AsOf: s.now().UTC().Truncate(time.Millisecond), ClosedPeriods: closed}, nil
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
	for i, r := range rates {
		if _, err := report.ParseRate(r); err != nil {
			for _, fe := range errs.FieldsOf(err) {
				f.Add("rates["+strconv.Itoa(i)+"]."+fe.Field, "%s", fe.Message)
			}
		}
	}
	if err := f.Err("invalid_rate"); err != nil {
		return 0, err
	}
	return len(rates), s.store.PutFXRates(ctx, rates)
}

// FXRates lists the stored rates, those into or out of currency if set.
func (s *Service) FXRates(ctx context.Context, currency string) ([]report.Rate, error) {
	if currency != "" && !money.IsCurrency(currency) {
		return nil, errs.Newf(errs.Unprocessable, "invalid_currency", "%q is not an ISO 4217 currency code", currency)
	}
	return s.store.FXRates(ctx, currency)
}

var partnerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// RemittanceRequest is money a partner says it paid.
type RemittanceRequest struct {
	Partner    string `json:"partner"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	ReceivedAt string `json:"received_at"`
	Reference  string `json:"reference"`
}

// AddRemittance records a remittance and applies it; the same reference
// again is an idempotent replay (created false).
func (s *Service) AddRemittance(ctx context.Context, req RemittanceRequest) (payout.Remittance, bool, error) {
	var f errs.Fields
	if !partnerID.MatchString(req.Partner) {
		f.Add("partner", "%q is not a partner id", req.Partner)
	}
	var amount money.Amount
	if !money.IsCurrency(req.Currency) {
		f.Add("currency", "%q is not an ISO 4217 currency code", req.Currency)
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
	received, err := time.Parse(time.RFC3339, req.ReceivedAt)
	switch {
	case req.ReceivedAt == "":
		received = s.now()
	case err != nil:
		f.Add("received_at", "%q is not an RFC 3339 time", req.ReceivedAt)
	case received.After(s.now().Add(24 * time.Hour)):
		f.Add("received_at", "is in the future")
	}
	if req.Reference == "" || len(req.Reference) > 200 {
		f.Add("reference", "is required (at most 200 characters): it makes a retried POST safe")
	}
	if err := f.Err("invalid_remittance"); err != nil {
		return payout.Remittance{}, false, err
	}
	return s.store.AddRemittance(ctx, payout.Remittance{Partner: req.Partner, Amount: amount.Minor,
		Currency: req.Currency, ReceivedAt: received, Reference: req.Reference})
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
	known, err := s.store.PartnerKnown(ctx, partner)
	if err != nil {
		return Statement{}, err
	}
	if !known {
		return Statement{}, ErrUnknownPartner
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
	return m, nil
}

// ClosePeriod closes a month (YYYY-MM): its figures never change again.
func (s *Service) ClosePeriod(ctx context.Context, month string) (report.Period, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return report.Period{}, err
	}
	return s.store.ClosePeriod(ctx, m, s.now())
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

// ImportSettlement reads a partner's settlement CSV for month and flags
// every difference from the ledger.
func (s *Service) ImportSettlement(ctx context.Context, partner, month, currency string, body []byte) (Settlement, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return Settlement{}, err
	}
	lines, err := payout.ParseSettlement(body, currency)
	if err != nil {
		return Settlement{}, err
	}
	known, err := s.store.PartnerKnown(ctx, partner)
	if err != nil {
		return Settlement{}, err
	}
	if !known {
		return Settlement{}, ErrUnknownPartner
	}
	id, diffs, err := s.store.ImportSettlement(ctx, partner, m, lines)
	if err != nil {
		return Settlement{}, err
	}
	return Settlement{ID: id, Partner: partner, Month: month, Lines: len(lines), Differences: diffs}, nil
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

// Periods lists the closed months.
func (s *Service) Periods(ctx context.Context) ([]report.Period, error) { return s.store.Periods(ctx) }
