package redirect

import (
	"context"
	"hash/maphash"
	"net/netip"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

// ClickRequest is a visit to /c/{code}, with the values as the visitor
// sent them: Click caps them (capVisit) before anything else reads them.
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
	v := capVisit(req, l)
	now := s.cfg.Now()
	var vbuf [24]byte
	// The hash, the visitor key and the bot check see the cut agent, as
	// the click records it: the published hash is then the one of the
	// recorded agent, bytes past the cut cannot mint new visitors (to
	// dodge the rate limit or inflate unique clicks), and no request costs
	// an HMAC or a signature scan over 30 KB.
	vh := s.deps.Visitors.AppendHash(vbuf[:0], now, req.IP, v.userAgent)
	// Not keyed by vh: the visitor hash changes at midnight UTC, and the
	// window and the limit must not start over then.
	visitorKey := visitor.Key(s.seed, req.IP, v.userAgent)
	if !s.limiter.Allow(visitorKey, now) {
		return ClickResponse{}, ErrRateLimited
	}
	// The network's limit second: it then counts only clicks within their
	// visitor's limit, so one visitor's flood of refused clicks does not
	// use up the limit of the others on its network. (A click the network
	// refuses still counts against its visitor: harmless, as the network
	// is over its limit.)
	if !s.networks.Allow(visitor.NetworkKey(s.seed, req.IP), now) {
		return ClickResponse{}, ErrNetworkRateLimited
	}
	if req.NoTrack || s.internal(req.IP) {
		return ClickResponse{Location: expand(l.Destination, values), Excluded: true}, nil
	}
	bot, reason := true, botcheck.OversizedAgent
	if !v.oversizedAgent {
		bot, reason = s.bots.Verdict(v.userAgent, req.Prefetch)
	}
	unique := !s.recent.Seen(visitorKey^maphash.String(s.seed, l.Code), now)

	// The click id and the visitor hash share one allocation: strings a
	// click makes are most of its garbage (issue 15).
	var idbuf [clickid.Length + 32]byte
	id := s.deps.IDs.Append(idbuf[:0], now)
	idLen := len(id) // the issuer's, whatever its length
	idAndHash := string(append(id, vh...))
	values.ClickID = idAndHash[:idLen]
	dest := expand(l.Destination, values)
	click := events.ClickRecorded{
		Header:      events.Header{ID: values.ClickID, Type: events.TypeClickRecorded, SchemaVersion: events.SchemaVersion},
		OccurredAt:  now.UTC(),
		Code:        l.Code,
		Partner:     l.Partner,
		CourseID:    l.CourseID,
		Destination: dest,
		UserAgent:   v.userAgent,
		Referer:     v.referer,
		UTMSource:   v.utmSource,
		UTMMedium:   v.utmMedium,
		UTMCampaign: v.utmCampaign,
		UTMTerm:     v.utmTerm,
		UTMContent:  v.utmContent,
		Placement:   v.placement,
		VisitorHash: idAndHash[idLen:],
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

// OtherPlacement is what a click records for a valid placement that its
// link's allow-list does not name (contract v1.1).
const OtherPlacement = "other"

// visit is what a click may record of what the visitor sent, within the
// limits of contract v1.1 (docs/events.md, "Limits"):
//
//	placement, utm_*  dropped unless at most 64 bytes of [A-Za-z0-9._~-];
//	                  a valid placement the link does not allow-list
//	                  becomes "other"
//	User-Agent        the first 512 bytes (whole UTF-8 characters, invalid
//	                  bytes as U+FFFD); longer is a bot signal
//	Referer           query and fragment dropped, then the first 2,048 bytes
//
// Each is a cut or a drop, never a refusal: the visitor still gets the 302.
// The code is checked against the link table before this, and the IP is
// a parsed address, so neither needs a cut.
type visit struct {
	userAgent, referer                                     string
	oversizedAgent                                         bool
	utmSource, utmMedium, utmCampaign, utmTerm, utmContent string
	placement                                              string
}

func capVisit(req ClickRequest, l linktable.Link) visit {
	v := visit{
		referer:     events.CutReferer(req.Referer),
		utmSource:   events.Tag(req.UTMSource),
		utmMedium:   events.Tag(req.UTMMedium),
		utmCampaign: events.Tag(req.UTMCampaign),
		utmTerm:     events.Tag(req.UTMTerm),
		utmContent:  events.Tag(req.UTMContent),
		placement:   events.Tag(req.Placement),
	}
	v.userAgent, v.oversizedAgent = events.CutUserAgent(req.UserAgent)
	if v.placement != "" && !l.AllowsPlacement(v.placement) {
		v.placement = OtherPlacement
	}
	return v
}

// expand is the destination with its macros filled, built on the stack
// when it fits: one allocation, the string's.
func expand(dest string, v link.Values) string {
	var buf [512]byte
	return string(link.AppendExpand(buf[:0], dest, v))
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
