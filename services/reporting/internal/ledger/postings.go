package ledger

import (
	"cmp"
	"slices"
)

// Accounts. Per conversion, commission is earned as revenue (credit) and
// owed by the partner as a receivable (debit) that moves from pending to
// approved, is cleared by remittances applied to it, or is written off to
// reversals. Remittances are received into cash against unapplied
// remittances until they are applied.
const (
	AccountRevenue             = "commission_revenue"
	AccountReversals           = "commission_reversals"
	AccountReceivablePending   = "receivable_pending"
	AccountReceivableApproved  = "receivable_approved"
	AccountUnappliedRemittance = "unapplied_remittances"
	AccountCash                = "cash"
)

// Posting is an amount on an account: debit positive, credit negative.
type Posting struct {
	Account  string
	Currency string
	Amount   int64
}

// Balances are the balances a conversion in state s holds; they sum to
// zero. Each conversion's ledger entries sum to exactly these.
func Balances(s State) []Posting {
	if !s.Exists() {
		return nil
	}
	c := s.Commission
	p := []Posting{{AccountRevenue, s.Currency, -c}}
	switch s.Status {
	case StatusPending:
		p = append(p, Posting{AccountReceivablePending, s.Currency, c})
	case StatusApproved:
		p = append(p, Posting{AccountReceivableApproved, s.Currency, c - s.Paid},
			Posting{AccountUnappliedRemittance, s.Currency, s.Paid})
	case StatusReversed:
		p = append(p, Posting{AccountReversals, s.Currency, c})
	}
	return compact(p)
}

// Diff is the transaction that moves a conversion's balances from old to
// new: new balances minus old ones, zero lines dropped, in a stable order.
// It balances per currency because both sides do.
func Diff(old, new State) []Posting {
	was := Balances(old)
	for i := range was {
		was[i].Amount = -was[i].Amount
	}
	return Sum(Balances(new), was)
}

// Sum is a and b added up per account and currency, zero lines dropped.
func Sum(a, b []Posting) []Posting {
	sum := map[[2]string]int64{}
	for _, ps := range [][]Posting{a, b} {
		for _, p := range ps {
			sum[[2]string{p.Account, p.Currency}] += p.Amount
		}
	}
	return postingsOf(sum)
}

// postingsOf is sums by account and currency as postings, zero lines
// dropped, in a stable order.
func postingsOf(sum map[[2]string]int64) []Posting {
	out := make([]Posting, 0, len(sum))
	for k, v := range sum {
		out = append(out, Posting{k[0], k[1], v})
	}
	return compact(out)
}

// Remittance is the transaction for money a partner paid: cash in, owed
// back to the partner's receivables until it is applied.
func Remittance(currency string, amount int64) []Posting {
	return []Posting{{AccountCash, currency, amount}, {AccountUnappliedRemittance, currency, -amount}}
}

// Balanced reports whether postings sum to zero in every currency.
func Balanced(ps []Posting) bool {
	sum := map[string]int64{}
	for _, p := range ps {
		sum[p.Currency] += p.Amount
	}
	for _, v := range sum {
		if v != 0 {
			return false
		}
	}
	return true
}

func compact(ps []Posting) []Posting {
	ps = slices.DeleteFunc(ps, func(p Posting) bool { return p.Amount == 0 })
	slices.SortFunc(ps, func(a, b Posting) int {
		if c := cmp.Compare(a.Currency, b.Currency); c != 0 {
			return c
		}
		return cmp.Compare(a.Account, b.Account)
	})
	return ps
}
