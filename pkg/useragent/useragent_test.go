package useragent

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBrowsersAreDistinct(t *testing.T) {
	uas := Browsers(rand.New(rand.NewPCG(1, 2)), 5000)
	if len(uas) != 5000 {
		t.Fatalf("got %d user agents, want 5000", len(uas))
	}
	seen := map[string]bool{}
	families := map[string]int{}
	for _, ua := range uas {
		if seen[ua] {
			t.Fatalf("duplicate %q", ua)
		}
		seen[ua] = true
		low := strings.ToLower(ua)
		if !strings.HasPrefix(ua, "Mozilla/5.0 (") || strings.Contains(low, "bot") || strings.Contains(low, "headless") || len(ua) > 512 {
			t.Fatalf("not a plain browser user agent: %q", ua)
		}
		for _, f := range []string{"Firefox/", "Edg/", "OPR/", "SamsungBrowser/", "CriOS/", "Version/", "Chrome/"} {
			if strings.Contains(ua, f) {
				families[f]++
				break
			}
		}
		if strings.Contains(ua, "Android") || strings.Contains(ua, "iPhone") {
			families["mobile"]++
		}
	}
	for _, f := range []string{"Firefox/", "Edg/", "OPR/", "SamsungBrowser/", "CriOS/", "Version/", "Chrome/", "mobile"} {
		if families[f] < 50 {
			t.Errorf("only %d user agents of %s in 5000: %v", families[f], f, families)
		}
	}
	again := Browsers(rand.New(rand.NewPCG(1, 2)), 5000)
	if again[4999] != uas[4999] {
		t.Error("the same seed gave another list")
	}
	for _, ua := range append(append([]string{}, Crawlers...), Unfurlers...) {
		if seen[ua] {
			t.Errorf("bot %q among browsers", ua)
		}
	}
}
