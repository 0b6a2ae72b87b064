package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestHostileClicksAreCapped sends what the issue measured stopping the
// ledger (an 8 KB placement, a 31 KB User-Agent of 0xFF bytes, a binary
// one, a 5 KB referer, random utm values) and then a normal click. Every
// one is answered 302; on clicks.v1 each hostile click holds only capped
// values (invalid tags dropped, agent and referer cut, an over-long agent
// a bot, an unlisted placement "other"), every event passes the schema's
// Validate (clicks() checks), and the normal click is recorded as sent.
func TestHostileClicksAreCapped(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	p := start(t, testkit.Listen(t), baseEnv(t, migratedDatabaseURL(t), b))
	putLink(t, p.Base, "open", "https://x.example/?c={click_id}")
	if r := admin(t, "PUT", p.Base+"/v1/links/listed", `{"partner":"coursera","course_id":"ml-101","destination":"https://x.example/?c={click_id}","placements":["hero","sidebar"]}`); r.status != 201 {
		t.Fatalf("PUT listed = %d %s", r.status, r.body)
	}
	rng := rand.New(rand.NewPCG(10, 10))
	const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

	type click struct {
		name, path string
		headers    []string
		want       func(t *testing.T, c shipped)
	}
	var sent []click
	send := func(c click) {
		sent = append(sent, c)
	}

	// 8 KB placement, 16 KB binary agent, 5 KB referer with a query.
	binaryUA := randomBytes(rng, 16<<10)
	longRef := "https://catalog.example/" + strings.Repeat("r", 5<<10) + "?email=someone@example.com"
	send(click{"8 KB placement", "/c/open?placement=" + strings.Repeat("p", 8<<10) + "&utm_source=news",
		[]string{"User-Agent", binaryUA, "Referer", longRef}, func(t *testing.T, c shipped) {
			wantUA, _ := events.CutUserAgent(binaryUA)
			if c.Placement != "" || c.UTMSource != "news" || c.UserAgent != wantUA || c.Referer != events.CutReferer(longRef) ||
				len(c.Referer) != events.MaxRefererBytes || !c.Bot || c.BotReason != "oversized_user_agent" {
				t.Errorf("placement %.20q utm_source %q agent %d bytes (want %d) referer %d bytes bot %v %q",
					c.Placement, c.UTMSource, len(c.UserAgent), len(wantUA), len(c.Referer), c.Bot, c.BotReason)
			}
		}})
	// A 31 KB agent of 0xFF bytes, twice with different tails: one
	// visitor to the hash and the unique window. Unlisted placement.
	ff := strings.Repeat("\xff", 31<<10)
	for i, tail := range []string{"", "x"} {
		send(click{fmt.Sprintf("31 KB agent %d", i), "/c/listed?placement=footer", []string{"User-Agent", ff[len(tail):] + tail},
			func(t *testing.T, c shipped) {
				if c.UserAgent != strings.Repeat("\uFFFD", 170) || !c.Bot || c.BotReason != "oversized_user_agent" ||
					c.Placement != "other" || c.Unique != (i == 0) {
					t.Errorf("agent %d bytes, bot %v %q, placement %q, unique %v", len(c.UserAgent), c.Bot, c.BotReason, c.Placement, c.Unique)
				}
			}})
	}
	// Random utm values: valid ones kept, the rest dropped.
	for i := range 20 {
		vals := map[string]string{}
		q := url.Values{}
		for _, k := range []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "placement"} {
			vals[k] = randomTag(rng)
			q.Set(k, vals[k])
		}
		send(click{fmt.Sprintf("random utm %d", i), "/c/open?" + q.Encode(), []string{"User-Agent", browser},
			func(t *testing.T, c shipped) {
				for k, got := range map[string]string{"utm_source": c.UTMSource, "utm_medium": c.UTMMedium, "utm_campaign": c.UTMCampaign,
					"utm_term": c.UTMTerm, "utm_content": c.UTMContent, "placement": c.Placement} {
					if want := events.Tag(vals[k]); got != want {
						t.Errorf("%s sent %.40q, recorded %.40q, want %.40q", k, vals[k], got, want)
					}
				}
				if c.Bot {
					t.Errorf("a browser is a bot: %q", c.BotReason)
				}
			}})
	}
	// Then a normal click.
	send(click{"normal", "/c/listed?placement=hero&utm_source=news&utm_medium=email", []string{"User-Agent", browser, "Referer", "https://catalog.example/ml"},
		func(t *testing.T, c shipped) {
			if c.UserAgent != browser || c.Referer != "https://catalog.example/ml" || c.Placement != "hero" || c.UTMSource != "news" ||
				c.UTMMedium != "email" || c.Bot || !c.Unique {
				t.Errorf("normal click recorded as %+v", c.ClickRecorded)
			}
		}})

	ids := map[string]bool{}
	order := make([]string, 0, len(sent))
	for _, c := range sent {
		r := do(t, "GET", p.Base+c.path, "", c.headers...)
		id := r.header.Get("X-Click-Id")
		if r.status != 302 || id == "" || !strings.HasPrefix(r.header.Get("Location"), "https://x.example/?c=") {
			t.Fatalf("%s = %d %v %s", c.name, r.status, r.header, r.body)
		}
		ids[id] = true
		order = append(order, id)
	}
	got := clicks(t, b, ids, 30*time.Second)
	for i, id := range order {
		c := sent[i]
		s, ok := got[id]
		if !ok {
			t.Errorf("%s: click %s not on clicks.v1", c.name, id)
			continue
		}
		if !utf8.ValidString(s.UserAgent) || !utf8.ValidString(s.Referer) || len(s.UserAgent) > events.MaxUserAgentBytes {
			t.Errorf("%s: agent or referer beyond the caps", c.name)
		}
		// What the cut agent and referer can cost at most, JSON-escaped
		// (every byte a quote: twice its size), plus the rest of a click.
		if limit := 2*events.MaxUserAgentBytes + 2*events.MaxRefererBytes + 1024; s.ValueBytes > limit {
			t.Errorf("%s: a %d-byte event, more than %d", c.name, s.ValueBytes, limit)
		}
		t.Run(c.name, func(t *testing.T) { c.want(t, s) })
	}
}

// randomBytes is a header value of n random bytes a client may send: any
// byte but controls other than tab.
func randomBytes(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		for b[i] < 0x20 && b[i] != '\t' || b[i] == 0x7f {
			b[i] = byte(rng.UintN(256))
		}
	}
	return string(b)
}

// randomTag is a query value that is a valid tag, too long, or binary.
func randomTag(rng *rand.Rand) string {
	const chars = events.TagChars
	n := 1 + rng.IntN(100)
	b := make([]byte, n)
	binary := rng.IntN(4) == 0
	for i := range b {
		if binary {
			b[i] = byte(rng.UintN(256))
		} else {
			b[i] = chars[rng.IntN(len(chars))]
		}
	}
	return string(b)
}
