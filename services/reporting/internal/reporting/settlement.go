package reporting

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/reporting/internal/payout"
	"github.com/linkcredit/linkcredit/services/reporting/internal/settlementfile"
)

// SettlementComparer compares settlement lines with the ledger without
// storing them (postgres.Store).
type SettlementComparer interface {
	CompareSettlement(ctx context.Context, partner string, month time.Time, lines []payout.Line) ([]payout.Difference, error)
}

// SettlementApplier stores a settlement file and applies it to the ledger
// (postgres.Store.ApplySettlement): once per file digest.
type SettlementApplier interface {
	ApplySettlement(ctx context.Context, f payout.SettlementFile, actor string) (importID int64, out payout.SettlementApply,
		before, after []payout.Difference, err error)
}

// SettlementResult is a settlement file read in its network's format and
// compared with the ledger. Rows are its lines as (order, status,
// commission, currency, date): what an apply will work from.
type SettlementResult struct {
	Settlement
	Format string
	DryRun bool
	Rows   []payout.Line
	// Apply is what applying the file did (nil on a dry run); After, the
	// differences left once it applied.
	Apply *payout.SettlementApply
	After []payout.Difference
}

// Settle reads a settlement file as its network exports it (r.Format:
// impact, awin, cj, generic with its column mapping in r.Mapping, or ""
// for linkcredit's own order_id,commission,status CSV) and answers its
// differences from the ledger. A dry run stores nothing. Otherwise the
// file is stored and applied (journaled, by the caller's actor): each
// status it differs on becomes a settlement event of the conversion;
// the same file (by SHA-256 digest) again changes nothing and answers
// the first apply.
func (s *Service) Settle(ctx context.Context, r SettlementRequest) (SettlementResult, error) {
	m, err := ParseMonth(r.Month)
	if err != nil {
		return SettlementResult{}, err
	}
	format, err := settlementfile.Lookup(r.Format, r.Mapping)
	if err != nil {
		return SettlementResult{}, err
	}
	lines, err := settlementfile.Parse(format, r.Body, r.Currency)
	if err != nil {
		return SettlementResult{}, err
	}
	if err := knownPartner(ctx, s.store, r.Partner); err != nil {
		return SettlementResult{}, err
	}
	out := SettlementResult{Settlement: Settlement{Partner: r.Partner, Month: r.Month, Lines: len(lines)},
		Format: format.Name, DryRun: r.DryRun, Rows: lines}
	if r.DryRun {
		out.Differences, err = s.store.CompareSettlement(ctx, r.Partner, m, lines)
		return out, err
	}
	if len(r.FileName) > 200 || strings.ContainsFunc(r.FileName, unicode.IsControl) {
		return SettlementResult{}, errs.New(errs.Unprocessable, "invalid_file_name", "file_name is at most 200 characters, none of them control characters")
	}
	sum := sha256.Sum256(r.Body)
	var a payout.SettlementApply
	out.ID, a, out.Differences, out.After, err = s.store.ApplySettlement(ctx, payout.SettlementFile{Partner: r.Partner,
		Month: m, Digest: hex.EncodeToString(sum[:]), FileName: r.FileName, Format: format.Name, Lines: lines}, ActorOf(ctx))
	out.Apply = &a
	return out, err
}
