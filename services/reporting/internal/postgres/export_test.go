package postgres

import "github.com/linkcredit/linkcredit/services/reporting/internal/ledger"

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
