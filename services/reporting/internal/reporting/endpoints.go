package reporting

import (
	"context"
	"net/url"

	"github.com/go-kit/kit/endpoint"

	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

// Endpoints are the service's operations as go-kit endpoints, so every
// transport shares the same middleware (spans, metrics, logs).
type Endpoints struct {
	Commissions      endpoint.Endpoint // CommissionsRequest -> report.Meta; rows go to the request's Emit
	PutFXRates       endpoint.Endpoint // []report.Rate -> int
	FXRates          endpoint.Endpoint // report.RateFilter -> []report.Rate
	AddRemittance    endpoint.Endpoint // RemittanceRequest -> AddRemittanceResponse
	Statement        endpoint.Endpoint // StatementRequest -> Statement
	Reconciliation   endpoint.Endpoint // month string -> []payout.ReconciliationLine
	ImportSettlement endpoint.Endpoint // SettlementRequest -> Settlement
	ClosePeriod      endpoint.Endpoint // month string -> report.Period
	ReopenPeriod     endpoint.Endpoint // month string -> report.Period (admin)
	Periods          endpoint.Endpoint // nil -> PeriodsResponse
}

// CommissionsRequest asks for a report; Begin is called with the meta
// once the report is known to succeed (before the first row), then Emit
// with each row.
type CommissionsRequest struct {
	Query report.Query
	Begin func(report.Meta) error
	Emit  func(report.Row) error
}

// AddRemittanceResponse is a stored remittance and whether it was new.
type AddRemittanceResponse struct {
	Remittance payout.Remittance
	Created    bool
}

// StatementRequest names a partner and a month (YYYY-MM).
type StatementRequest struct{ Partner, Month string }

// SettlementRequest is a partner's settlement CSV for a month.
type SettlementRequest struct {
	Partner, Month, Currency string
	Body                     []byte
	// Format names the network export (settlementfile.Lookup); Mapping
	// holds a generic format's column mapping; DryRun stores nothing.
	Format  string
	Mapping url.Values
	DryRun  bool
	// FileName names the uploaded file in the apply's audit record.
	FileName string
}

// MakeEndpoints wraps each method of s with mw(name).
func MakeEndpoints(s *Service, mw func(name string) endpoint.Middleware) Endpoints {
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		if mw == nil {
			return e
		}
		return mw(name)(e)
	}
	return Endpoints{
		Commissions: wrap("commissions", func(ctx context.Context, req any) (any, error) {
			r := req.(CommissionsRequest)
			meta, err := s.Meta(ctx, r.Query)
			if err != nil {
				return nil, err
			}
			started := false
			err = s.Commissions(ctx, r.Query, func(row report.Row) error {
				if !started {
					started = true
					if err := r.Begin(meta); err != nil {
						return err
					}
				}
				return r.Emit(row)
			})
			if err == nil && !started {
				err = r.Begin(meta)
			}
			return meta, err
		}),
		PutFXRates: wrap("put_fx_rates", func(ctx context.Context, req any) (any, error) {
			return s.PutFXRates(ctx, req.([]report.Rate))
		}),
		FXRates: wrap("fx_rates", func(ctx context.Context, req any) (any, error) {
			return s.FXRates(ctx, req.(report.RateFilter))
		}),
		AddRemittance: wrap("add_remittance", func(ctx context.Context, req any) (any, error) {
			rem, created, err := s.AddRemittance(ctx, req.(RemittanceRequest))
			return AddRemittanceResponse{rem, created}, err
		}),
		Statement: wrap("statement", func(ctx context.Context, req any) (any, error) {
			r := req.(StatementRequest)
			return s.Statement(ctx, r.Partner, r.Month)
		}),
		Reconciliation: wrap("reconciliation", func(ctx context.Context, req any) (any, error) {
			return s.Reconciliation(ctx, req.(string))
		}),
		ImportSettlement: wrap("import_settlement", func(ctx context.Context, req any) (any, error) {
			r := req.(SettlementRequest)
			return s.Settle(ctx, r)
		}),
		ClosePeriod: wrap("close_period", func(ctx context.Context, req any) (any, error) {
			return s.ClosePeriod(ctx, req.(string))
		}),
		ReopenPeriod: wrap("reopen_period", func(ctx context.Context, req any) (any, error) {
			return s.ReopenPeriod(ctx, req.(string))
		}),
		Periods: wrap("periods", func(ctx context.Context, _ any) (any, error) {
			return s.Periods(ctx)
		}),
	}
}
