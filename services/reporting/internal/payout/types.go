package payout

import (
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

// Remittance is money a partner actually paid.
type Remittance struct {
	ID         int64
	Partner    string
	Amount     int64 // minor units
	Currency   string
	ReceivedAt time.Time
	Reference  string
	CreatedAt  time.Time
	// Orders are the orders the remittance pays, when it names them (a
	// network's payment report): allocation pays each its amount first.
	Orders []OrderPayment
}

// OrderPayment is the part of a remittance that pays one order.
type OrderPayment struct {
	OrderID string `json:"order_id"`
	Amount  int64  `json:"amount_minor"` // minor units of the remittance's currency
}

// MaxRemittanceOrders bounds the orders one remittance names.
const MaxRemittanceOrders = 50000

// ErrRemittanceConflict is a reference already used for a different remittance.
var ErrRemittanceConflict = errs.New(errs.Conflict, "remittance_conflict",
	"this partner already has a remittance with this reference and different values")

// StatementLine is one currency of a partner's monthly statement. Its
// figures are sums over the ledger, exact however large.
type StatementLine struct {
	Currency string
	// Opening and Closing are what the partner owed at the start and end
	// of the month: approved commission not yet remitted.
	Opening, Closing minor.Sum
	// Approved is commission approved in the month; Reversed, commission
	// reversed; Remitted, what the partner paid. Adjustments are the rest
	// of the change in what is owed (reversals of approved commission,
	// amounts adjusted down), so that Opening + Approved - Remitted +
	// Adjustments = Closing.
	Approved, Reversed, Remitted, Adjustments minor.Sum
	// Paid is the commission of the month's approvals that remittances
	// cover so far.
	Conversions int64
}

// Difference is one way a settlement report and the ledger disagree.
type Difference struct {
	OrderID string
	Line    int    // 0 when the order is only in the ledger
	Kind    string // missing_in_ledger, missing_in_settlement, status, commission, currency, duplicate
	Ledger  string // what the ledger says
	Partner string // what the partner's report says
}

// ReconciliationLine is what one partner paid against what the ledger
// expected, in one currency, through the end of a month.
type ReconciliationLine struct {
	Partner, Currency string
	// Expected is commission approved (paid or not) through the month's
	// end; Remitted, what the partner paid by then; Difference is
	// Remitted - Expected (negative: still owed, positive: paid ahead).
	Expected, Remitted, Difference minor.Sum
	// MonthApproved and MonthRemitted are the month's own movements.
	MonthApproved, MonthRemitted minor.Sum
	// Unpaid counts approved conversions not yet fully covered.
	Unpaid int64
}
