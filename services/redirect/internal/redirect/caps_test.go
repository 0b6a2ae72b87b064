package redirect_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

// capsService serves two links: "open" records any valid placement,
// "listed" allow-lists hero and sidebar.
func capsService(t testing.TB) (redirect.Service, *recorder) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	table := linktable.New(0)
	for _, l := range []linktable.Link{
		{Code: "open", Partner: "coursera", CourseID: "ml-101", Destination: "https://x.example/?c={click_id}", Active: true},
		{Code: "listed", Partner: "coursera", CourseID: "ml-101", Destination: "https://x.example/?c={click_id}", Active: true,
			Placements: "hero" + linktable.PlacementSep + "sidebar"},
	} {
		if err := table.Put(l); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := clickid.NewSigner([]byte("test-click-id-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	visitors := visitor.NewHasher(&salts{byDay: map[string][]byte{}}, logger)
	if err := visitors.Refresh(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	svc := redirect.New(redirect.Config{RateLimitPerMinute: 1 << 30, RateLimitPerIPPerMinute: 1 << 30, Now: func() time.Time { return at }},
		redirect.Deps{Table: table, IDs: ids, Visitors: visitors, Logger: logger, Recorder: rec})
	return svc, rec
}

func TestClickCapsWhatTheVisitorSent(t *testing.T) {
	tag64 := strings.Repeat("t", 64)
	ff := func(n int) string { return strings.Repeat("\xff", n) }
	tests := []struct {
		name string
		req  redirect.ClickRequest // Code "open", browser User-Agent unless set
		want events.ClickRecorded  // the fields compared: the caps' outputs
	}{
		{"as sent", redirect.ClickRequest{UTMSource: "news", UTMMedium: "email", UTMCampaign: "nov-2026", UTMTerm: "a.b~c_d-e",
			UTMContent: tag64, Placement: "hero", Referer: "https://catalog.example/ml"},
			events.ClickRecorded{UTMSource: "news", UTMMedium: "email", UTMCampaign: "nov-2026", UTMTerm: "a.b~c_d-e",
				UTMContent: tag64, Placement: "hero", Referer: "https://catalog.example/ml"}},
		{"tags too long", redirect.ClickRequest{UTMSource: tag64 + "x", Placement: strings.Repeat("p", 8<<10)}, events.ClickRecorded{}},
		{"tags outside the set", redirect.ClickRequest{UTMMedium: "e mail", UTMCampaign: "nov/2026", UTMTerm: "ü", UTMContent: "a\x00",
			Placement: "hero;drop"}, events.ClickRecorded{}},
		{"binary tags", redirect.ClickRequest{UTMSource: ff(10), Placement: "\x00\x01"}, events.ClickRecorded{}},
		{"agent at the limit", redirect.ClickRequest{UserAgent: strings.Repeat("a", 512)},
			events.ClickRecorded{UserAgent: strings.Repeat("a", 512)}},
		{"agent over the limit", redirect.ClickRequest{UserAgent: browser + strings.Repeat("a", 513-len(browser))},
			events.ClickRecorded{UserAgent: (browser + strings.Repeat("a", 513))[:512], Bot: true, BotReason: botcheck.OversizedAgent}},
		{"31 KB binary agent", redirect.ClickRequest{UserAgent: ff(31 << 10)},
			events.ClickRecorded{UserAgent: strings.Repeat("\uFFFD", 170), Bot: true, BotReason: botcheck.OversizedAgent}},
		{"short binary agent", redirect.ClickRequest{UserAgent: "Mozilla/5.0 " + ff(4)},
			events.ClickRecorded{UserAgent: "Mozilla/5.0 " + strings.Repeat("\uFFFD", 4)}},
		{"oversized wins over a name", redirect.ClickRequest{UserAgent: "Googlebot/2.1 " + strings.Repeat("x", 600), Prefetch: true},
			events.ClickRecorded{UserAgent: ("Googlebot/2.1 " + strings.Repeat("x", 600))[:512], Bot: true, BotReason: botcheck.OversizedAgent}},
		{"cut agent still classified", redirect.ClickRequest{UserAgent: "curl/8.5.0 " + strings.Repeat("x", 400)},
			events.ClickRecorded{UserAgent: "curl/8.5.0 " + strings.Repeat("x", 400), Bot: true, BotReason: botcheck.HTTPLibrary}},
		{"referer query dropped", redirect.ClickRequest{Referer: "https://catalog.example/ml?email=a@b.example#top"},
			events.ClickRecorded{Referer: "https://catalog.example/ml"}},
		{"5 KB referer", redirect.ClickRequest{Referer: "https://catalog.example/" + strings.Repeat("r", 5<<10) + "?q=1"},
			events.ClickRecorded{Referer: ("https://catalog.example/" + strings.Repeat("r", 5<<10))[:2048]}},
		{"binary referer", redirect.ClickRequest{Referer: ff(5 << 10)}, events.ClickRecorded{Referer: strings.Repeat("\uFFFD", 682)}},
		{"listed placement", redirect.ClickRequest{Code: "listed", Placement: "sidebar"}, events.ClickRecorded{Placement: "sidebar"}},
		{"unlisted placement", redirect.ClickRequest{Code: "listed", Placement: "footer"}, events.ClickRecorded{Placement: redirect.OtherPlacement}},
		{"near miss", redirect.ClickRequest{Code: "listed", Placement: "Hero"}, events.ClickRecorded{Placement: redirect.OtherPlacement}},
		{"invalid on a listed link", redirect.ClickRequest{Code: "listed", Placement: strings.Repeat("h", 65)}, events.ClickRecorded{}},
		{"none on a listed link", redirect.ClickRequest{Code: "listed"}, events.ClickRecorded{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, rec := capsService(t)
			req := tt.req
			if req.Code == "" {
				req.Code = "open"
			}
			if req.UserAgent == "" {
				req.UserAgent = browser
			}
			want := tt.want
			if want.UserAgent == "" {
				want.UserAgent = browser
			}
			if !want.Bot && req.Prefetch {
				want.Bot, want.BotReason = true, botcheck.Prefetch
			}
			req.IP = netip.MustParseAddr("198.51.100.7")
			resp, err := svc.Click(context.Background(), req)
			if err != nil || !resp.Recorded {
				t.Fatalf("Click = %+v, %v; want a recorded click", resp, err)
			}
			got := rec.clicks[0]
			if err := got.Validate(); err != nil {
				t.Fatalf("the recorded click is not valid: %v", err)
			}
			type capped struct {
				UserAgent, Referer, UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent, Placement, BotReason string
				Bot                                                                                              bool
			}
			g := capped{got.UserAgent, got.Referer, got.UTMSource, got.UTMMedium, got.UTMCampaign, got.UTMTerm, got.UTMContent, got.Placement, got.BotReason, got.Bot}
			w := capped{want.UserAgent, want.Referer, want.UTMSource, want.UTMMedium, want.UTMCampaign, want.UTMTerm, want.UTMContent, want.Placement, want.BotReason, want.Bot}
			if g != w {
				t.Errorf("recorded\n%+.80v\nwant\n%+.80v", g, w)
			}
			if resp.Bot != got.Bot || resp.BotReason != got.BotReason {
				t.Errorf("answered bot %v %q, recorded %v %q", resp.Bot, resp.BotReason, got.Bot, got.BotReason)
			}
		})
	}
}

// TestCutAgentIsTheVisitor: the visitor hash, the unique-click window and
// the rate limit see the agent as recorded, so bytes past the cut neither
// make a new visitor nor change the published hash.
func TestCutAgentIsTheVisitor(t *testing.T) {
	svc, rec := capsService(t)
	head := strings.Repeat("\xff", 600)
	ip := netip.MustParseAddr("198.51.100.7")
	for _, tail := range []string{"a", "b", strings.Repeat("c", 30<<10)} {
		if _, err := svc.Click(context.Background(), redirect.ClickRequest{Code: "open", IP: ip, UserAgent: head + tail}); err != nil {
			t.Fatal(err)
		}
	}
	first := rec.clicks[0]
	for i, c := range rec.clicks {
		if c.VisitorHash != first.VisitorHash || c.UserAgent != first.UserAgent {
			t.Errorf("click %d: hash %s agent %d bytes; want the first's %s, %d bytes", i, c.VisitorHash, len(c.UserAgent), first.VisitorHash, len(first.UserAgent))
		}
		if c.Unique != (i == 0) {
			t.Errorf("click %d: unique %v; only the first of one visitor is unique", i, c.Unique)
		}
	}
	// The hash is the one of the recorded agent.
	if _, err := svc.Click(context.Background(), redirect.ClickRequest{Code: "listed", IP: ip, UserAgent: first.UserAgent}); err != nil {
		t.Fatal(err)
	}
	if last := rec.clicks[len(rec.clicks)-1]; last.VisitorHash != first.VisitorHash {
		t.Errorf("the recorded agent hashes to %s, the oversized one to %s", last.VisitorHash, first.VisitorHash)
	}
}

// FuzzClickCaps: whatever a visitor sends, the recorded click passes the
// schema's Validate (so no consumer dead-letters it), its agent and
// referer are valid UTF-8, and an agent past the limit is a bot.
func FuzzClickCaps(f *testing.F) {
	f.Add("open", browser, "https://catalog.example/ml?x=1", "hero", "news", "email", "nov", "ml", "a")
	f.Add("listed", strings.Repeat("\xff", 31<<10), strings.Repeat("r", 5<<10), strings.Repeat("p", 8<<10), "\x00", "a b", "ü", "", "x")
	f.Add("listed", "\xed\xa0\x80", "\u2028#\xff", "footer", strings.Repeat("~", 64), strings.Repeat("~", 65), "%41", "-", ".")
	svc, rec := capsService(f)
	f.Fuzz(func(t *testing.T, code, ua, ref, placement, src, medium, campaign, term, content string) {
		if code != "listed" {
			code = "open"
		}
		rec.clicks = rec.clicks[:0]
		_, err := svc.Click(context.Background(), redirect.ClickRequest{Code: code, IP: netip.MustParseAddr("198.51.100.7"),
			UserAgent: ua, Referer: ref, Placement: placement, UTMSource: src, UTMMedium: medium, UTMCampaign: campaign, UTMTerm: term, UTMContent: content})
		if err != nil {
			t.Fatal(err)
		}
		c := rec.clicks[0]
		if err := c.Validate(); err != nil {
			t.Fatalf("recorded click is not valid: %v", err)
		}
		if !utf8.ValidString(c.UserAgent) || !utf8.ValidString(c.Referer) || strings.ContainsAny(c.Referer, "?#") {
			t.Fatalf("agent %q, referer %q", c.UserAgent, c.Referer)
		}
		if len(ua) > events.MaxUserAgentBytes && (!c.Bot || c.BotReason != botcheck.OversizedAgent) {
			t.Fatalf("a %d-byte agent is not an oversized_user_agent bot: %v %q", len(ua), c.Bot, c.BotReason)
		}
		if code == "listed" && c.Placement != "" && c.Placement != "hero" && c.Placement != "sidebar" && c.Placement != redirect.OtherPlacement {
			t.Fatalf("placement %q recorded on an allow-listed link", c.Placement)
		}
	})
}
