package payout

import "time"

// SettlementFile is a settlement file to apply to the ledger: its lines as
// parsed, and what identifies the file (Digest, the hex SHA-256 of its
// bytes as uploaded: the same file applies once).
type SettlementFile struct {
	Partner  string
	Month    time.Time // the first day of the month the file settles (UTC)
	Digest   string
	FileName string
	Format   string
	Lines    []Line
}

// Outcomes of a settlement line on apply. A line whose status the ledger
// already has is unchanged and listed in no outcome.
const (
	OutcomeApplied      = "applied"       // a settlement event moved the conversion to the line's status
	OutcomeUnknownOrder = "unknown_order" // the ledger has no conversion with this order id: reported, not applied
	OutcomeCurrency     = "currency"      // the line's currency is not the conversion's: reported, not applied
	OutcomeDuplicate    = "duplicate"     // an earlier line of the file names the same order: not applied
)

// AppliedLine is what applying did with one line of a file.
type AppliedLine struct {
	Line     int
	OrderID  string
	Outcome  string
	From, To string // the conversion's status before, and the line's
	EventID  string // the settlement event, for applied lines
}

// SettlementApply is the audit record of one applied file: who applied
// which file when, and what came of its rows.
type SettlementApply struct {
	ID                                 int64
	Partner, Digest, FileName, Format  string
	Month                              time.Time
	Rows                               int // lines in the file
	Applied, Unchanged, Unknown, Other int // Other: currency and duplicate lines
	AppliedAt                          time.Time
	AppliedBy                          string
	Lines                              []AppliedLine // every line that was not unchanged
	// Again is true when this file had been applied before: nothing
	// changed now, and the record is the first apply's.
	Again bool
}
