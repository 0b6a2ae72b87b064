package httptransport

import (
	"mime"
	"net/http"

	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// decodeRemittance reads POST /v1/payouts/remittances: a JSON body
// (at most 8 MiB, room for the orders of a payment report), or, with
// Content-Type text/csv, the network's payment report as the body and the
// remittance in the query:
//
//	partner=, currency=, reference= (required), received_at=, amount=
//	                   (default: what the report's approved lines add up to)
//	format=…           the report's export format and, for generic, its
//	                   mapping, as for settlement files (settlement.go)
func decodeRemittance(r *http.Request) (reporting.RemittanceRequest, error) {
	var req reporting.RemittanceRequest
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "text/csv" {
		return req, httpx.DecodeJSON(r, 8<<20, &req)
	}
	body, err := httpx.ReadBody(r, maxSettlementBody)
	if err != nil {
		return req, err
	}
	if body == nil {
		body = []byte{} // an empty report is a report, and refused as one
	}
	q := r.URL.Query()
	return reporting.RemittanceRequest{Partner: q.Get("partner"), Amount: q.Get("amount"), Currency: q.Get("currency"),
		ReceivedAt: q.Get("received_at"), Reference: q.Get("reference"), Report: body, ReportFormat: q.Get("format"),
		Mapping: q}, nil
}

// remittanceOrdersJSON lists the orders a remittance names, amounts as
// decimal strings.
func remittanceOrdersJSON(r payout.Remittance) []map[string]string {
	cur, _ := money.LookupCurrency(r.Currency) // a stored remittance's currency is known
	out := make([]map[string]string, 0, len(r.Orders))
	for _, o := range r.Orders {
		out = append(out, map[string]string{"order_id": o.OrderID, "amount": money.FormatMinor(o.Amount, cur.Exponent)})
	}
	return out
}
