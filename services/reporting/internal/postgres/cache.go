package postgres

// generations is a map bounded by two generations, for caches keyed by
// what events carry (visitor- and partner-chosen values): a lookup tries
// the current generation, then the previous one, and moves a hit from
// the previous one into the current one; when the current one holds size
// entries it becomes the previous one and the old previous one is
// dropped. So it holds at most 2*size entries, and whatever is in use
// stays. It is not safe for concurrent use (the store holds its mutex).
//
// Keys are cloned as they go in (clone, when not nil): a caller's key may
// share memory with the Kafka message it came from (decoded in place),
// which a cached key must not keep alive.
type generations[K comparable, V any] struct {
	size      int
	cur, prev map[K]V
	clone     func(K) K
}

func newGenerations[K comparable, V any](size int, clone func(K) K) *generations[K, V] {
	return &generations[K, V]{size: size, cur: make(map[K]V), prev: make(map[K]V), clone: clone}
}

func (g *generations[K, V]) get(k K) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.prev[k]
	if ok {
		delete(g.prev, k)
		g.put(k, v)
	}
	return v, ok
}

func (g *generations[K, V]) put(k K, v V) {
	if _, ok := g.cur[k]; !ok && len(g.cur) >= g.size {
		g.prev, g.cur = g.cur, make(map[K]V, g.size)
	}
	if g.clone != nil {
		k = g.clone(k)
	}
	g.cur[k] = v
}

// len is how many entries it holds, at most 2*size.
func (g *generations[K, V]) len() int { return len(g.cur) + len(g.prev) }
