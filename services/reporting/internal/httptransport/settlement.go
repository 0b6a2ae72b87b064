package httptransport

import (
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// settlementRequest reads POST /v1/payouts/settlements/{partner}:
//
//	month=YYYY-MM      the month the file settles (required)
//	currency=XXX       the currency of files without a currency column
//	format=…           impact, awin, cj or generic (default: linkcredit's
//	                   own order_id,commission,status[,currency] CSV)
//	order_id_column=, commission_column=, status_column=, currency_column=,
//	date_column=, date_format=iso|us|eu, status_map=word:status,…
//	                   the generic format's mapping
//	dry_run=true       (the default) compare with the ledger, store nothing;
//	                   false stores the file and applies it: each status
//	                   it differs on becomes a settlement event of that
//	                   conversion (once per file: the same bytes again
//	                   answer the first apply, 200, and change nothing)
//	file_name=…        names the file in the apply's audit record (else
//	                   the filename of a Content-Disposition header)
func settlementRequest(r *http.Request, body []byte) (reporting.SettlementRequest, error) {
	q := r.URL.Query()
	dry := true
	switch q.Get("dry_run") {
	case "", "true", "1":
	case "false", "0":
		dry = false
	default:
		return reporting.SettlementRequest{}, errs.New(errs.Invalid, "invalid_parameter", "dry_run must be true or false")
	}
	name := q.Get("file_name")
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); name == "" && err == nil {
		name = params["filename"]
	}
	return reporting.SettlementRequest{Partner: r.PathValue("partner"), Month: q.Get("month"), Currency: q.Get("currency"),
		Body: body, Format: q.Get("format"), Mapping: q, DryRun: dry, FileName: name}, nil
}

// writeSettlement answers a dry run with 200, an applied file with 201
// (and the import's id) and a file applied before with 200: the
// differences, the parsed rows with money as decimal strings and, when
// applied, the apply's record and the differences left.
func writeSettlement(w http.ResponseWriter, st reporting.SettlementResult) {
	diffs := differencesJSON(st.Differences)
	// Typed rows, not a map each: a file of 200,000 lines made a map per
	// line and took reporting from 26 MB to 677 MB (a limits check).
	rows := make([]settlementRowJSON, 0, len(st.Rows))
	for _, l := range st.Rows {
		cur, _ := money.LookupCurrency(l.Currency) // parsed lines have known currencies
		row := settlementRowJSON{Line: l.Line, OrderID: l.OrderID, Status: l.Status,
			Commission: money.FormatMinor(l.Commission, cur.Exponent), Currency: l.Currency}
		if !l.Date.IsZero() {
			d := l.Date.UTC().Format(time.RFC3339)
			row.Date = &d
		}
		rows = append(rows, row)
	}
	out := map[string]any{"partner": st.Partner, "month": st.Month, "format": st.Format, "dry_run": st.DryRun,
		"lines": st.Lines, "differences": diffs, "matches": len(diffs) == 0, "rows": rows}
	status := http.StatusOK
	if a := st.Apply; a != nil {
		if !a.Again {
			out["id"], status = strconv.FormatInt(st.ID, 10), http.StatusCreated
		}
		out["apply"] = applyJSON(a)
		out["remaining_differences"] = differencesJSON(st.After)
	}
	httpx.WriteJSON(w, status, out)
}

// settlementRowJSON is a parsed line of a settlement file; Date is null
// for a line without one. Fields in the order of their names, as the maps
// before them were written.
type settlementRowJSON struct {
	Commission string  `json:"commission"`
	Currency   string  `json:"currency"`
	Date       *string `json:"date"`
	Line       int     `json:"line"`
	OrderID    string  `json:"order_id"`
	Status     string  `json:"status"`
}

type differenceJSON struct {
	Kind    string `json:"kind"`
	Ledger  string `json:"ledger"`
	Line    int    `json:"line"`
	OrderID string `json:"order_id"`
	Partner string `json:"partner"`
}

func differencesJSON(ds []payout.Difference) []differenceJSON {
	out := make([]differenceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, differenceJSON{OrderID: d.OrderID, Line: d.Line, Kind: d.Kind, Ledger: d.Ledger, Partner: d.Partner})
	}
	return out
}

// applyJSON is an apply's audit record: who applied which file, when,
// and each line that changed a conversion or could not.
func applyJSON(a *payout.SettlementApply) map[string]any {
	lines := make([]map[string]any, 0, len(a.Lines))
	var unknown []string
	for _, l := range a.Lines {
		m := map[string]any{"line": l.Line, "order_id": l.OrderID, "outcome": l.Outcome, "from": l.From, "to": l.To}
		if l.EventID != "" {
			m["event_id"] = l.EventID
		}
		if l.Outcome == payout.OutcomeUnknownOrder {
			unknown = append(unknown, l.OrderID)
		}
		lines = append(lines, m)
	}
	return map[string]any{"id": strconv.FormatInt(a.ID, 10), "already_applied": a.Again, "digest": "sha256:" + a.Digest,
		"file_name": a.FileName, "format": a.Format, "month": a.Month.Format("2006-01"), "applied_at": a.AppliedAt.Format(time.RFC3339Nano),
		"applied_by": a.AppliedBy, "rows": a.Rows, "applied": a.Applied, "unchanged": a.Unchanged, "unknown_orders": a.Unknown,
		"not_applied": a.Other, "lines": lines, "unknown_order_ids": append([]string{}, unknown...)}
}
