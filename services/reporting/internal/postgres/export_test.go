package postgres

// CacheSizes is how many entries the store's input-keyed caches hold.
func (s *Store) CacheSizes() (keys, slots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.len(), s.slots.len()
}

// CacheBounds are the most entries they may hold.
const CacheBoundKeys, CacheBoundSlots = 2 * keyCacheSize, 2 * slotCacheSize
