package settlementfile

import (
	"net/url"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Format is how one network's export names and writes what a settlement
// line needs. Column names are matched without case and surrounding
// space; the first of a list that the header has is used.
type Format struct {
	Name       string
	OrderID    []string
	Status     []string // none present: DefaultStatus
	Commission []string
	Currency   []string // none present: the currency given on upload
	Date       []string // none present: the line has no date
	// Statuses maps the export's status words (lower case) to the
	// ledger's: pending, approved or reversed.
	Statuses map[string]string
	// DefaultStatus is the status of every line of an export without a
	// status column ("" makes the column required).
	DefaultStatus string
	// DateLayouts are tried in order (time.Parse layouts).
	DateLayouts []string
	// SumByOrder: the export has one line per commission and one more per
	// correction of it (signed), so lines of one order add up; the status
	// is that of the order's latest line.
	SumByOrder bool
}

// Date layouts. Each export writes dates one way; ISO forms are accepted
// everywhere since a spreadsheet may have rewritten them.
var (
	isoLayouts = []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05",
		"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}
	usLayouts = append([]string{"01/02/2006 15:04:05", "01/02/2006 15:04", "1/2/2006 15:04", "01/02/2006", "1/2/2006",
		"Jan 2, 2006 3:04:05 PM", "Jan 2, 2006 15:04:05", "Jan 2, 2006"}, isoLayouts...)
	euLayouts = append([]string{"02/01/2006 15:04:05", "02/01/2006 15:04", "02/01/2006", "02.01.2006 15:04:05",
		"02.01.2006 15:04", "02.01.2006"}, isoLayouts...)
)

// legacy is linkcredit's own settlement CSV: order_id, commission, status
// and optionally currency (docs/reporting.md).
var legacy = Format{
	Name: "linkcredit", OrderID: []string{"order_id"}, Status: []string{"status"}, Commission: []string{"commission"},
	Currency: []string{"currency"}, Date: []string{"date", "occurred_at"}, DateLayouts: isoLayouts,
	Statuses: map[string]string{
		"pending": "pending", "open": "pending", "extended": "pending", "new": "pending",
		"approved": "approved", "paid": "approved", "locked": "approved", "confirmed": "approved", "accepted": "approved",
		"reversed": "reversed", "declined": "reversed", "rejected": "reversed", "cancelled": "reversed", "canceled": "reversed", "void": "reversed",
	},
}

// formats are the network exports (sources in testdata/README.md).
var formats = map[string]Format{
	"": legacy, "linkcredit": legacy,

	// impact.com, partner side: the Action Listing reports (Advanced
	// Action Listing, Action Listing for a Paystub), downloaded as CSV.
	// The order of a conversion is impact.com's Action Id (the impact
	// preset's order_id is the action_id of its event notifications).
	// Payout is the partner's earning; Action Date when it occurred. The
	// paystub listing has no status column: every action on a paystub was
	// paid, so approved.
	"impact": {
		Name: "impact", OrderID: []string{"action id"}, Status: []string{"status", "action status"},
		Commission: []string{"payout", "action earnings"}, Currency: []string{"currency"},
		Date: []string{"action date", "event date"}, DateLayouts: usLayouts, DefaultStatus: "approved",
		Statuses: map[string]string{"pending": "pending", "approved": "approved", "locked": "approved", "cleared": "approved",
			"paid": "approved", "reversed": "reversed", "declined": "reversed"},
	},

	// Awin: the publisher Transactions report, Export as CSV. id is
	// Awin's transaction id (the awin preset's order_id, transactionId);
	// commission_status is pending, approved or declined (or its code 0,
	// 1, 2); date is the transaction date.
	"awin": {
		Name: "awin", OrderID: []string{"id", "transaction id"}, Status: []string{"commission_status", "commission status", "status"},
		Commission: []string{"commission", "commission amount"}, Currency: []string{"currency", "commission_currency"},
		Date: []string{"date", "transaction date", "transaction_date"}, DateLayouts: euLayouts,
		Statuses: map[string]string{"pending": "pending", "0": "pending", "approved": "approved", "1": "approved",
			"declined": "reversed", "2": "reversed", "deleted": "reversed"},
	},

	// CJ: the publisher Commission Detail, one record per commission and
	// one more per correction, with the Commission Detail API's field
	// names (orderId, actionStatus, pubCommissionAmountPubCurrency,
	// eventDate). actionStatus new or extended is open, locked is final,
	// closed is prepared for payment; a correction's amount is signed.
	"cj": {
		Name: "cj", OrderID: []string{"orderid", "order id"}, Status: []string{"actionstatus", "action status", "status"},
		Commission: []string{"pubcommissionamountpubcurrency", "pubcommissionamountusd", "publisher commission", "commission"},
		Currency:   []string{"pubcurrency", "publisher currency", "currency"},
		Date:       []string{"eventdate", "event date", "postingdate", "posting date"}, DateLayouts: isoLayouts, SumByOrder: true,
		Statuses: map[string]string{"new": "pending", "extended": "pending", "locked": "approved", "closed": "approved"},
	},
}

// Names lists the formats a client may ask for.
const Names = "impact, awin, cj, generic"

// Lookup returns the format name asks for. "generic" is built from q:
// order_id_column, commission_column and status_column name the columns
// (required), currency_column and date_column optionally, date_format is
// iso (default), us (MM/DD/YYYY) or eu (DD/MM/YYYY), and
// status_map=word:status,... adds status words to the usual ones.
func Lookup(name string, q url.Values) (Format, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name != "generic" {
		f, ok := formats[name]
		if !ok {
			return Format{}, errs.Newf(errs.Invalid, "unknown_format", "format must be one of %s", Names)
		}
		return f, nil
	}
	var f errs.Fields
	col := func(param string, required bool) []string {
		v := strings.ToLower(strings.TrimSpace(q.Get(param)))
		switch {
		case v == "" && required:
			f.Add(param, "is required with format=generic: the name of the column in the file's header")
			return nil
		case v == "":
			return nil
		case len(v) > 200:
			f.Add(param, "is at most 200 characters")
		}
		return []string{v}
	}
	g := Format{Name: "generic", OrderID: col("order_id_column", true), Commission: col("commission_column", true),
		Status: col("status_column", true), Currency: col("currency_column", false), Date: col("date_column", false),
		Statuses: map[string]string{}}
	for k, v := range legacy.Statuses {
		g.Statuses[k] = v
	}
	switch strings.ToLower(q.Get("date_format")) {
	case "", "iso":
		g.DateLayouts = isoLayouts
	case "us":
		g.DateLayouts = usLayouts
	case "eu":
		g.DateLayouts = euLayouts
	default:
		f.Add("date_format", "must be iso, us or eu")
	}
	if m := q.Get("status_map"); m != "" {
		for _, pair := range strings.Split(m, ",") {
			word, status, ok := strings.Cut(pair, ":")
			word, status = strings.ToLower(strings.TrimSpace(word)), strings.ToLower(strings.TrimSpace(status))
			if !ok || word == "" || len(word) > 64 || (status != "pending" && status != "approved" && status != "reversed") {
				f.Add("status_map", "is word:status,... with status pending, approved or reversed")
				break
			}
			g.Statuses[word] = status
		}
	}
	if err := f.Err("invalid_mapping"); err != nil {
		return Format{}, err
	}
	return g, nil
}
