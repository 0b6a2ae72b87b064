// Package httptransport serves the reporting service over HTTP: finance's
// JSON and CSV endpoints and the funding dashboard.
package httptransport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/csvtable"
	"github.com/linkcredit/linkcredit/services/reporting/internal/errtext"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// SettlementRoute is the route of a partner's settlement file, whose
// apply, once the file is read, may rightly take longer than another
// write (the service's stall guard gives it a bound of its own).
const SettlementRoute = "POST /v1/payouts/settlements/{partner}"

// Register adds the routes, every one behind the finance scope:
//
//	GET  /v1/reports/commissions             report, JSON or streamed CSV
//	GET  /v1/fx-rates[?currency=&from=&to=]  stored exchange rates (from, to: dates, both included)
//	PUT  /v1/fx-rates                        store rates (JSON array or CSV)
//	POST /v1/payouts/remittances             money a partner paid, optionally naming the orders it pays
//	GET  /v1/payouts/statements/{partner}    ?month=YYYY-MM[&format=csv]
//	GET  /v1/payouts/reconciliation          ?month=YYYY-MM[&format=csv]: paid against expected
//	POST /v1/payouts/settlements/{partner}   ?month=YYYY-MM[&currency=][&format=impact|awin|cj|generic&…][&dry_run=false]:
//	                                         a partner's settlement file as its network exports it (settlement.go)
//	GET  /v1/periods                         the closed months, the finance zone, the audit
//	PUT  /v1/periods/{month}                 {"status":"closed"}: close a month;
//	                                         {"status":"open"}: reopen one (admin scope)
//
// Each handler puts the caller (scope and token fingerprint) in the
// context: finance actions are journaled with it.
//
// now is the service's clock: a report without from and to covers the
// month running by it.
func Register(rt *httpx.Router, eps reporting.Endpoints, now clock.Clock, tokens *httpx.Tokens, logger *slog.Logger) {
	h := &handlers{eps: eps, now: now, logger: logger, uploads: make(chan struct{}, maxUploadsAtOnce)}
	finance := func(f http.HandlerFunc) http.Handler {
		return tokens.Require(httpx.ScopeFinance, withActor(tokens, httpx.StrictSingleQuery(f)))
	}
	h.tokens = tokens
	rt.Handle("GET /v1/reports/commissions", finance(h.commissions))
	rt.Handle("GET /v1/fx-rates", finance(h.listRates))
	rt.Handle("PUT /v1/fx-rates", finance(h.upload(h.putRates)))
	rt.Handle("POST /v1/payouts/remittances", finance(h.upload(h.addRemittance)))
	rt.Handle("GET /v1/payouts/statements/{partner}", finance(h.statement))
	rt.Handle("GET /v1/payouts/reconciliation", finance(h.reconciliation))
	rt.Handle(SettlementRoute, finance(h.upload(h.importSettlement)))
	rt.Handle("GET /v1/periods", finance(h.periods))
	rt.Handle("PUT /v1/periods/{month}", finance(h.closePeriod))
}

type handlers struct {
	tokens *httpx.Tokens
	eps    reporting.Endpoints
	now    clock.Clock
	logger *slog.Logger
	// uploads holds a place for each large finance file being read and
	// worked on (settlement files, payment reports, rates): a 32 MiB
	// settlement file takes hundreds of MB while it is compared, so
	// reporting works on a few at a time, and answers more with 429.
	uploads chan struct{}
}

// maxUploadsAtOnce is how many large finance files reporting works on at
// once (handlers.uploads).
const maxUploadsAtOnce = 2

// smallUpload is the most a request says it sends (Content-Length) and
// still goes without a place among the uploads: a rate or a remittance
// in JSON is a few hundred bytes, and two slow uploads held every one of
// them off with 429 for as long as they took (a re-check).
const smallUpload = 1 << 20

// upload runs f when a place among the uploads is free, else answers 429
// with Retry-After. A request that says it sends at most smallUpload
// needs no place.
func (h *handlers) upload(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength >= 0 && r.ContentLength <= smallUpload {
			f(w, r)
			return
		}
		select {
		case h.uploads <- struct{}{}:
			defer func() { <-h.uploads }()
			f(w, r)
		default:
			w.Header().Set("Retry-After", "5")
			h.fail(w, r, errs.Newf(errs.RateLimited, "too_many_uploads",
				"reporting is working on %d finance files already: send this one again in a few seconds", maxUploadsAtOnce))
		}
	}
}

// fail answers err; its text quotes only the start of a hostile value.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, h.logger, errtext.Bound(err))
}

// commissions streams the report. Everything that can fail for the
// caller's reasons (the query, a missing rate) fails before the status
// line; a failure after it ends the body early, which a CSV reader sees as
// a truncated file and a JSON reader as invalid JSON.
func (h *handlers) commissions(w http.ResponseWriter, r *http.Request) {
	q, err := report.ParseQuery(r.URL.Query(), r.Header.Get("Accept"), h.now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var enc report.Encoder
	started := false
	_, err = h.eps.Commissions(r.Context(), reporting.CommissionsRequest{Query: q,
		Begin: func(meta report.Meta) error {
			started = true
			w.Header().Set("X-Report-As-Of", report.FormatAsOf(meta.AsOf))
			w.Header().Set("X-Report-Closed-Periods", strings.Join(meta.ClosedPeriods, ","))
			w.Header().Set("X-Report-Finance-Time-Zone", meta.FinanceTimeZone)
			final := make([]string, len(meta.FinalDays))
			for i, d := range meta.FinalDays {
				final[i] = d.From + "/" + d.To
			}
			w.Header().Set("X-Report-Final-Days", strings.Join(final, ","))
			w.Header().Set("Cache-Control", "no-store")
			var err error
			if q.Format == "csv" {
				w.Header().Set("Content-Type", "text/csv; charset=utf-8")
				w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="commissions_%s_%s_asof_%s.csv"`,
					q.FromDate, q.ToDate, meta.AsOf.Format("20060102T150405Z")))
				enc, err = report.NewCSV(w, meta)
			} else {
				w.Header().Set("Content-Type", "application/json")
				enc, err = report.NewJSON(w, meta)
			}
			return err
		},
		Emit: func(row report.Row) error { return enc.Row(row) },
	})
	switch {
	case err != nil && !started:
		h.fail(w, r, err)
	case err != nil:
		// Past the status line: end the body early, which a CSV reader
		// sees as a truncated file and a JSON reader as invalid JSON.
		h.logger.ErrorContext(r.Context(), "report stream broken", "error", err.Error())
	default:
		if err := enc.Close(); err != nil {
			h.logger.DebugContext(r.Context(), "report stream: client went away", "error", err.Error())
		}
	}
}

func (h *handlers) listRates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := httpx.OnlyParameters(q, "currency", "from", "to"); err != nil {
		h.fail(w, r, err)
		return
	}
	resp, err := h.eps.FXRates(r.Context(), report.RateFilter{Currency: q.Get("currency"), From: q.Get("from"), To: q.Get("to")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rates := resp.([]report.Rate)
	out := make([]rateJSON, 0, len(rates))
	for _, rt := range rates {
		out = append(out, rateJSON(rt))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"rates": out})
}

type rateJSON struct {
	Date  string `json:"date"`
	Base  string `json:"base"`
	Quote string `json:"quote"`
	Rate  string `json:"rate"`
}

const maxRatesBody = 8 << 20

// putRates takes a JSON array of rates, or CSV with the header
// date,base,quote,rate.
func (h *handlers) putRates(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(r, maxRatesBody)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var rates []report.Rate
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "text/csv" || (ct == "" && len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] != '[') {
		rates, err = decodeRatesCSV(body)
	} else {
		var in []rateJSON
		if err = httpx.UnmarshalStrict(body, &in); err == nil {
			for _, r := range in {
				rates = append(rates, report.Rate(r))
			}
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.eps.PutFXRates(r.Context(), rates)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"stored": n})
}

func decodeRatesCSV(body []byte) ([]report.Rate, error) {
	t, err := csvtable.New(body, "the rates CSV", "date", "base", "quote", "rate")
	if err != nil {
		return nil, err
	}
	var rates []report.Rate
	for {
		ok, err := t.Next()
		if !ok || err != nil {
			return rates, err
		}
		rates = append(rates, report.Rate{Date: t.Get("date"), Base: t.Get("base"), Quote: t.Get("quote"), Rate: t.Get("rate")})
	}
}

func (h *handlers) addRemittance(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRemittance(r) // JSON, or a payment report (remittance.go)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp, err := h.eps.AddRemittance(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	added := resp.(reporting.AddRemittanceResponse)
	rem, created := added.Remittance, added.Created
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	// received_at as stored, fraction and all: sent back, it is the same remittance.
	httpx.WriteJSON(w, status, map[string]any{
		"id": strconv.FormatInt(rem.ID, 10), "partner": rem.Partner, "amount": money.Amount{Minor: rem.Amount, Currency: rem.Currency}.String(),
		"currency": rem.Currency, "received_at": rem.ReceivedAt.UTC().Format(time.RFC3339Nano), "reference": rem.Reference,
		"orders": remittanceOrdersJSON(rem),
	})
}

var statementColumns = []string{"partner", "month", "currency", "opening_balance", "approved", "reversed",
	"remitted", "adjustments", "balance_owed", "as_of"}

func (h *handlers) statement(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := httpx.OnlyParameters(q, "month", "format"); err != nil {
		h.fail(w, r, err)
		return
	}
	resp, err := h.eps.Statement(r.Context(), reporting.StatementRequest{Partner: r.PathValue("partner"), Month: q.Get("month")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st := resp.(reporting.Statement)
	asOf := report.FormatAsOf(st.AsOf)
	switch q.Get("format") {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement_%s_%s.csv"`, st.Partner, st.Month))
		cw := report.NewCSVWriter(w)
		_ = cw.Write(statementColumns)
		for _, l := range st.Lines {
			f := func(m minor.Sum) string { return m.In(l.Currency) }
			_ = cw.Write([]string{report.SafeCell(st.Partner), st.Month, l.Currency, f(l.Opening), f(l.Approved),
				f(l.Reversed), f(l.Remitted), f(l.Adjustments), f(l.Closing), asOf})
		}
		cw.Flush()
	case "", "json":
		lines := make([]map[string]string, 0, len(st.Lines))
		for _, l := range st.Lines {
			f := func(m minor.Sum) string { return m.In(l.Currency) }
			lines = append(lines, map[string]string{"currency": l.Currency, "opening_balance": f(l.Opening),
				"approved": f(l.Approved), "reversed": f(l.Reversed), "remitted": f(l.Remitted),
				"adjustments": f(l.Adjustments), "balance_owed": f(l.Closing)})
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"partner": st.Partner, "month": st.Month, "as_of": asOf,
			"lines": lines})
	default:
		h.fail(w, r, errs.Newf(errs.Unprocessable, "invalid_format", "format %q is not csv or json", q.Get("format")))
	}
}

func (h *handlers) closePeriod(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status string `json:"status"`
	}
	if err := httpx.DecodeJSON(r, 4<<10, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	var p any
	var err error
	switch req.Status {
	case "closed":
		p, err = h.eps.ClosePeriod(r.Context(), r.PathValue("month"))
	case "open":
		// Reopening unfreezes a month finance may have signed: admin only.
		if err := h.tokens.Authorize(r, httpx.ScopeAll); err != nil {
			h.fail(w, r, errs.Wrap(errs.Forbidden, "insufficient_scope", "reopening a month takes the admin token", err))
			return
		}
		p, err = h.eps.ReopenPeriod(r.Context(), r.PathValue("month"))
	default:
		h.fail(w, r, errs.Newf(errs.Unprocessable, "invalid_status", `status %q: a period can be set to "closed" or "open"`, req.Status))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

const maxSettlementBody = 32 << 20

func (h *handlers) importSettlement(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(r, maxSettlementBody)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := settlementRequest(r, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp, err := h.eps.ImportSettlement(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeSettlement(w, resp.(reporting.SettlementResult))
}

var reconciliationColumns = []string{"partner", "currency", "expected", "remitted", "difference", "month_approved",
	"month_remitted", "unpaid_conversions"}

func (h *handlers) reconciliation(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := httpx.OnlyParameters(q, "month", "format"); err != nil {
		h.fail(w, r, err)
		return
	}
	resp, err := h.eps.Reconciliation(r.Context(), q.Get("month"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lines := resp.([]payout.ReconciliationLine)
	cells := func(l payout.ReconciliationLine) []string {
		f := func(m minor.Sum) string { return m.In(l.Currency) }
		return []string{l.Partner, l.Currency, f(l.Expected), f(l.Remitted), f(l.Difference), f(l.MonthApproved),
			f(l.MonthRemitted), strconv.FormatInt(l.Unpaid, 10)}
	}
	switch q.Get("format") {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := report.NewCSVWriter(w)
		_ = cw.Write(reconciliationColumns)
		for _, l := range lines {
			c := cells(l)
			c[0] = report.SafeCell(c[0])
			_ = cw.Write(c)
		}
		cw.Flush()
	case "", "json":
		out := make([]map[string]any, 0, len(lines))
		for _, l := range lines {
			c := cells(l)
			m := map[string]any{}
			for i, col := range reconciliationColumns {
				m[col] = c[i]
			}
			m["unpaid_conversions"] = l.Unpaid
			out = append(out, m)
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"month": q.Get("month"), "partners": out})
	default:
		h.fail(w, r, errs.Newf(errs.Unprocessable, "invalid_format", "format %q is not csv or json", q.Get("format")))
	}
}

func (h *handlers) periods(w http.ResponseWriter, r *http.Request) {
	ps, err := h.eps.Periods(r.Context(), nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, ps)
}

// withActor names the caller for the journal: the scope its token holds
// (admin for the all-scopes token) and the first 8 bytes of the token's
// SHA-256, which tells tokens apart and reveals none.
func withActor(tokens *httpx.Tokens, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := httpx.BearerToken(r)
		scope := httpx.ScopeFinance
		if tokens.Authorize(r, httpx.ScopeAll) == nil {
			scope = "admin"
		}
		actor := scope
		if token != "" {
			sum := sha256.Sum256([]byte(token))
			actor += ":" + hex.EncodeToString(sum[:8])
		}
		next.ServeHTTP(w, r.WithContext(reporting.WithActor(r.Context(), actor)))
	})
}
