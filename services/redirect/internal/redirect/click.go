package redirect

import (
	"context"
	"hash/maphash"
	"net/netip"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

// ClickRequest is a visit to /c/{code}.
type ClickRequest struct {
	Code                                                   string
	Head                                                   bool // HEAD: answered, never billed
	Prefetch                                               bool // the browser says this is a prefetch
	NoTrack                                                bool // ?no-track: redirect without recording
	IP                                                     netip.Addr
	UserAgent                                              string
	Referer                                                string
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent string
	Placement                                              string
}

// ClickResponse says where the visitor goes.
type ClickResponse struct {
	Location  string
	ClickID   string // empty when nothing was recorded
	Recorded  bool
	Excluded  bool // internal traffic or no-track
	Bot       bool
	BotReason string
}

func (s *service) Click(ctx context.Context, req ClickRequest) (ClickResponse, error) {
	if !link.ValidCode(req.Code) {
		return ClickResponse{}, ErrLinkNotFound
	}
	l, ok := s.deps.Table.Get(req.Code)
	if !ok || !l.Active {
		return ClickResponse{}, ErrLinkNotFound
	}
	values := link.Values{Code: l.Code, CourseID: l.CourseID, Partner: l.Partner}
	if req.Head {
		return ClickResponse{Location: expand(l.Destination, values)}, nil
	}
	now := s.cfg.Now()
	var vbuf [24]byte
	vh := s.deps.Visitors.AppendHash(vbuf[:0], now, req.IP, req.UserAgent)
	// Not keyed by vh: the visitor hash changes at midnight UTC, and the
	// window and the limit must not start over then.
	visitorKey := visitor.Key(s.seed, req.IP, req.UserAgent)
	if !s.limiter.Allow(visitorKey, now) {
		return ClickResponse{}, ErrRateLimited
	}
	if req.NoTrack || s.internal(req.IP) {
		return ClickResponse{Location: expand(l.Destination, values), Excluded: true}, nil
	}
	bot, reason := s.bots.Verdict(req.UserAgent, req.Prefetch)
	unique := !s.recent.Seen(visitorKey^maphash.String(s.seed, l.Code), now)

	var idbuf [clickid.Length]byte
	values.ClickID = string(s.deps.IDs.Append(idbuf[:0], now))
	dest := expand(l.Destination, values)
	click := events.ClickRecorded{
		Header:      events.Header{ID: values.ClickID, Type: events.TypeClickRecorded, SchemaVersion: events.SchemaVersion},
		OccurredAt:  now.UTC(),
		Code:        l.Code,
		Partner:     l.Partner,
		CourseID:    l.CourseID,
		Destination: dest,
		UserAgent:   req.UserAgent,
		Referer:     req.Referer,
		UTMSource:   req.UTMSource,
		UTMMedium:   req.UTMMedium,
		UTMCampaign: req.UTMCampaign,
		UTMTerm:     req.UTMTerm,
		UTMContent:  req.UTMContent,
		Placement:   req.Placement,
		VisitorHash: string(vh),
		Bot:         bot,
		BotReason:   reason,
		Unique:      unique,
	}
	if err := s.deps.Recorder.Record(ctx, click); err != nil {
		s.deps.Logger.ErrorContext(ctx, "click not recorded", "code", l.Code, "error", err.Error())
		return ClickResponse{}, ErrClickNotRecorded
	}
	return ClickResponse{Location: dest, ClickID: values.ClickID, Recorded: true, Bot: bot, BotReason: reason}, nil
}

func expand(dest string, v link.Values) string {
	buf := make([]byte, 0, len(dest)+64)
	return string(link.AppendExpand(buf, dest, v))
}

func (s *service) internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.InternalNets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
