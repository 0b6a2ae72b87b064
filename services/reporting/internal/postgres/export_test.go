package postgres

import (
	"context"
	"slices"

	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

// CacheSizes is how many entries the store's input-keyed caches hold.
func (s *Store) CacheSizes() (keys, slots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.len(), s.slots.len()
}

// ShrinkCaches gives the store caches of nKeys and nSlots entries a
// generation instead of keyCacheSize and slotCacheSize, so a test can
// overflow them with a few thousand clicks. It returns the most entries
// each may then hold.
func (s *Store) ShrinkCaches(nKeys, nSlots int) (boundKeys, boundSlots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = newGenerations[ledger.RollupKey, int32](nKeys, cloneKey)
	s.slots = newGenerations[linkDay, slots](nSlots, cloneLinkDay)
	return 2 * nKeys, 2 * nSlots
}

// WaitingFor is waitingFor in a transaction of its own, each conversion
// as "partner/order/click", sorted.
func (s *Store) WaitingFor(ctx context.Context, clicks []Click, limit int) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	found, err := waitingFor(ctx, tx, clicks, limit)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(found))
	for i, w := range found {
		out[i] = w.key.partner + "/" + w.key.orderID + "/" + w.click
	}
	slices.Sort(out)
	return out, nil
}

// ProbeKeys is probeKeys, which runs the ledger's key probe
// (LoadConversionsSQL) as loadConversions does.
var ProbeKeys = probeKeys

// LoadConversionsSQL is the ledger's key probe.
const LoadConversionsSQL = loadConversionsSQL

// PartnerActivitySQL is partner health's read of conversions.
const PartnerActivitySQL = partnerActivitySQL
