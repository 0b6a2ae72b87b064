package redirect_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

// stored is a link store holding links as an older version stored them.
type stored struct {
	redirect.LinkStore
	links []linktable.Link
}

func (s stored) Changes(_ context.Context, _ string, fn func(linktable.Link) error) (string, error) {
	for _, l := range s.links {
		if err := fn(l); err != nil {
			return "", err
		}
	}
	return "1", nil
}

// A link stored before destinations were normalised is served with its
// ASCII URI; other destinations are served byte for byte.
func TestCacheServesLegacyDestinationsAsASCII(t *testing.T) {
	table := linktable.New(0)
	c := redirect.Cache{Store: stored{links: []linktable.Link{
		{Code: "old", Partner: "p", CourseID: "c", Destination: "https://bücher.example/kurs/é?id={click_id}", Active: true},
		{Code: "ascii", Partner: "p", CourseID: "c", Destination: "https://x.example/a%20b?id={click_id}", Active: true},
		{Code: "broken", Partner: "p", CourseID: "c", Destination: "https://x.example/\xff", Active: true},
	}}, Table: table, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]string{
		"old":    "https://xn--bcher-kva.example/kurs/%C3%A9?id={click_id}",
		"ascii":  "https://x.example/a%20b?id={click_id}",
		"broken": "https://x.example/\xff", // not UTF-8: served as it was
	} {
		l, ok := table.Get(code)
		if !ok || l.Destination != want {
			t.Errorf("%s: %q, want %q", code, l.Destination, want)
		}
	}
}
