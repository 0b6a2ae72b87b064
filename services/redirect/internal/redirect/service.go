package redirect

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
	"github.com/linkcredit/linkcredit/services/redirect/internal/window"
)

// Service is what the redirect service does.
type Service interface {
	// Click resolves a visit to /c/{code}: ErrLinkNotFound for unknown or
	// inactive codes, ErrRateLimited past the visitor's limit,
	// ErrNetworkRateLimited past its network's, ErrClickNotRecorded when
	// the click cannot be made durable.
	Click(ctx context.Context, req ClickRequest) (ClickResponse, error)
	// PutLink creates or replaces a link (errs.Unprocessable when invalid)
	// and returns it as stored: a destination with non-ASCII characters
	// as its ASCII URI (link.Link.Normalized).
	PutLink(ctx context.Context, l link.Link) (link.Link, bool, error)
	// GetLink returns a link or ErrLinkNotFound.
	GetLink(ctx context.Context, code string) (link.Link, error)
	// ListLinks pages through links by code.
	ListLinks(ctx context.Context, q ListQuery) (ListPage, error)
	// ImportLinks upserts every valid row of a feed and reports the rest.
	// Each row counts once (created + updated + failed = rows): a valid
	// row whose code an earlier valid row had is the last word on that
	// link and counts as updated.
	ImportLinks(ctx context.Context, rows feed.Reader) (ImportResult, error)
}

// Errors, by kind.
var (
	ErrLinkNotFound = errs.New(errs.NotFound, "link_not_found", "no active link has this code")
	ErrRateLimited  = errs.New(errs.RateLimited, "rate_limited", "too many clicks from this visitor; slow down")
	// ErrNetworkRateLimited: past the limit of the visitor's network (its
	// /24 or /48), whatever the User-Agent.
	ErrNetworkRateLimited = errs.New(errs.RateLimited, "rate_limited", "too many clicks from this network; slow down")
	ErrClickNotRecorded   = errs.New(errs.Unavailable, "click_not_recorded", "the click cannot be recorded right now; retry shortly")
)

// LinkStore keeps links durably. Errors are errs kinds.
type LinkStore interface {
	Put(ctx context.Context, l link.Link) (link.Link, bool, error)
	Get(ctx context.Context, code string) (link.Link, error)
	List(ctx context.Context, partner, after string, limit int) ([]link.Link, error)
	Upsert(ctx context.Context, links []link.Link) (created, updated int, err error)
	Changes(ctx context.Context, since string, fn func(linktable.Link) error) (string, error)
}

// ClickRecorder makes a click durable before its redirect is answered.
type ClickRecorder interface {
	Record(ctx context.Context, c events.ClickRecorded) error
}

// IDIssuer issues click ids. An id carries the time it was issued for (the
// click's, from Config.Now), so ids sort like the clicks they name.
type IDIssuer interface {
	Append(dst []byte, t time.Time) []byte
}

// Config holds the click rules.
type Config struct {
	UniqueWindow       time.Duration // same visitor, same link: counted once within this
	RateLimitPerMinute int           // clicks per visitor (truncated IP and User-Agent) per minute
	// RateLimitPerIPPerMinute: clicks per truncated IP (/24, /48) per
	// minute, whatever the User-Agent, so rotating it escapes nothing.
	// Higher than RateLimitPerMinute: a network may hold many visitors.
	RateLimitPerIPPerMinute int
	InternalNets            []netip.Prefix // traffic from here is redirected but not recorded
	Now                     clock.Clock    // the click's time: its day's visitor salt, window and limits; nil is the system clock
}

// Deps are the adapters the service uses.
type Deps struct {
	Store    LinkStore
	Table    *linktable.Table
	Recorder ClickRecorder
	IDs      IDIssuer
	Visitors *visitor.Hasher
	Logger   *slog.Logger
}

// service holds four caches keyed by visitor input. Each is bounded
// whatever visitors send (the bounds are argued where each is defined):
// bots at most 20,000 agents of at most 512 bytes (about 12 MB), recent
// two generations of at most 4M keys (about 300 MB at worst), limiter and
// networks two each of at most 256Ki keys (about 19 MB each).
type service struct {
	cfg      Config
	deps     Deps
	bots     *botcheck.Checker
	recent   *window.Recent
	limiter  *window.Limiter // per visitor: truncated IP and User-Agent
	networks *window.Limiter // per truncated IP alone
	seed     maphash.Seed
}

// DefaultRateLimitPerIPPerMinute is a network's limit when Config leaves
// it zero: ten visitors at the default per-visitor limit, enough for an
// office or a campus behind one /24 (or a mobile carrier's /48).
const DefaultRateLimitPerIPPerMinute = 6000

// New returns the service.
func New(cfg Config, deps Deps) Service {
	cfg.Now = clock.OrSystem(cfg.Now)
	if cfg.UniqueWindow <= 0 {
		cfg.UniqueWindow = 30 * time.Minute
	}
	if cfg.RateLimitPerMinute <= 0 {
		cfg.RateLimitPerMinute = 600
	}
	if cfg.RateLimitPerIPPerMinute <= 0 {
		cfg.RateLimitPerIPPerMinute = DefaultRateLimitPerIPPerMinute
	}
	return &service{
		cfg: cfg, deps: deps,
		bots:     botcheck.NewChecker(0),
		recent:   window.NewRecent(cfg.UniqueWindow, 0),
		limiter:  window.NewLimiter(cfg.RateLimitPerMinute, 0),
		networks: window.NewLimiter(cfg.RateLimitPerIPPerMinute, 0),
		seed:     maphash.MakeSeed(),
	}
}
