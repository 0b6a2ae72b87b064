package postgres

import (
	"context"
	"database/sql"
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

// Probe is probe, which runs the lateral probes per key (LoadConversionsSQL)
// with sequential scans off.
var Probe = probe

// LoadConversionsSQL is the ledger's key probe.
const LoadConversionsSQL = loadConversionsSQL

// PartnerActivitySQL is partner health's read of conversions.
const PartnerActivitySQL = partnerActivitySQL

// LoadClicks is loadClicks, the ledger's read of conversions' clicks.
var LoadClicks = loadClicks

// CopyNewClicks is copyNewClicks, the store of a redelivered batch's
// clicks not stored before.
var CopyNewClicks = copyNewClicks

// FindWaiting is findWaiting, the attribution sweeps' search, as
// "partner/order" keys.
func FindWaiting(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	keys, err := findWaiting(ctx, tx, query, args...)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.partner + "/" + k.orderID
	}
	return out, err
}

// WaitingAttributionSQL and SweepSQL are the attribution sweeps' searches.
const (
	WaitingAttributionSQL = waitingAttributionSQL
	SweepSQL              = sweepSQL
)
