package postgres

import (
	"testing"
	"unsafe"

	"github.com/linkcredit/linkcredit/services/reporting/internal/ledger"
)

func TestGenerationsStayBounded(t *testing.T) {
	t.Parallel()
	g := newGenerations[int, int](100, nil)
	for i := 0; i < 100000; i++ {
		g.put(i, i)
		if _, ok := g.get(7); !ok && i >= 7 {
			t.Fatalf("after %d puts, an entry in use was dropped", i)
		}
		if g.len() > 200 {
			t.Fatalf("after %d puts, %d entries", i, g.len())
		}
	}
	if _, ok := g.get(5); ok {
		t.Fatal("an entry not used for 100,000 puts is still there")
	}
	if v, ok := g.get(99999); !ok || v != 99999 {
		t.Fatalf("the last entry = %d %v", v, ok)
	}
}

// A key decoded in place shares the message's memory; the cache keeps a
// copy of its own, whether the key goes in by put or moves up by get.
func TestGenerationsKeepTheirOwnKeys(t *testing.T) {
	t.Parallel()
	g := newGenerations[ledger.RollupKey, int32](2, cloneKey)
	msg := []byte("partner-a")
	k := ledger.RollupKey{Partner: unsafe.String(&msg[0], len(msg))}
	g.put(k, 1)
	g.put(ledger.RollupKey{Partner: "b"}, 2)
	g.put(ledger.RollupKey{Partner: "c"}, 3) // k is in the previous generation now
	if _, ok := g.get(k); !ok {              // and moves up, by the caller's key
		t.Fatal("k is gone")
	}
	copy(msg, "XXXXXXXXX") // the message's memory is reused
	if v, ok := g.get(ledger.RollupKey{Partner: "partner-a"}); !ok || v != 1 {
		t.Fatalf("partner-a = %d, %v after its message changed", v, ok)
	}
	if _, ok := g.get(k); ok {
		t.Fatal("the cache found a key by the message's new contents")
	}
}
