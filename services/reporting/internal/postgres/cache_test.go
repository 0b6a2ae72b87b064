package postgres

import "testing"

func TestGenerationsStayBounded(t *testing.T) {
	g := newGenerations[int, int](100)
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
