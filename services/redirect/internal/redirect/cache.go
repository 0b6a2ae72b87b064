package redirect

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
)

// Cache keeps the in-memory link table equal to the store: a full load at
// start-up, then a catch-up on every change signal and at least every
// PollEvery, so a lost notification costs seconds, never correctness.
type Cache struct {
	Store     LinkStore
	Table     *linktable.Table
	Logger    *slog.Logger
	PollEvery time.Duration // default 5s

	since string
}

// Load reads every link. Call it before serving.
func (c *Cache) Load(ctx context.Context) (int, error) {
	c.since = "0"
	if err := c.CatchUp(ctx); err != nil {
		return 0, fmt.Errorf("load links: %w", err)
	}
	return c.Table.Len(), nil
}

// CatchUp applies the changes since the last load or catch-up.
func (c *Cache) CatchUp(ctx context.Context) error {
	next, err := c.Store.Changes(ctx, c.since, func(l linktable.Link) error {
		// A link stored before destinations were normalised may hold
		// raw non-ASCII bytes; a Location never does.
		l.Destination = link.ASCIIDestination(l.Destination)
		if err := c.Table.Put(l); err != nil {
			c.Logger.Warn("link does not fit the table; skipped", "code", l.Code, "error", err.Error())
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.since = next
	return nil
}

// Run catches up whenever changed fires and on every poll tick, until ctx
// ends. Only Run calls CatchUp after Load: the cursor is not shared.
func (c *Cache) Run(ctx context.Context, changed <-chan struct{}) error {
	every := c.PollEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
		if err := c.CatchUp(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("link catch-up failed; will retry", "error", err.Error())
		}
	}
}
