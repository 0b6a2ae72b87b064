package traffic

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
)

// Mix describes the traffic. Zero fields take the defaults of issue 15's
// realistic run.
type Mix struct {
	Links        int     // codes c0 .. c<Links-1>, default 10,000
	Agents       int     // distinct browser user agents, default 5,000
	BotShare     float64 // share of clicks from crawlers and unfurlers, default 0.02
	Networks     int     // distinct /24 networks visitors come from, default 20,000
	TaggedShare  float64 // share of clicks with utm_* tags, default 0.6
	PlacedShare  float64 // share of clicks with a placement, default 0.5
	RefererShare float64 // share of clicks with a Referer, default 0.7
}

func (m *Mix) setDefaults() {
	if m.Links <= 0 {
		m.Links = 10_000
	}
	if m.Agents <= 0 {
		m.Agents = 5_000
	}
	if m.BotShare <= 0 {
		m.BotShare = 0.02
	}
	if m.Networks <= 0 {
		m.Networks = 20_000
	}
	if m.TaggedShare <= 0 {
		m.TaggedShare = 0.6
	}
	if m.PlacedShare <= 0 {
		m.PlacedShare = 0.5
	}
	if m.RefererShare <= 0 {
		m.RefererShare = 0.7
	}
}

// Click is one visit: the request target (path and query), the headers a
// browser sends that the redirect reads, and the visitor's address (for
// X-Forwarded-For behind a trusted proxy).
type Click struct {
	Target    string
	UserAgent string
	Referer   string
	IP        netip.Addr
	Bot       bool
}

// Source holds a Mix's tables (agents, request targets), built once and
// shared read-only by the generators drawn from it.
type Source struct {
	mix     Mix
	agents  []string
	bots    []string
	targets []string // pre-built targets, so drawing a click allocates nothing
}

// variants is the number of query strings per link.
const variants = 8

// NewSource builds the tables of mix.
func NewSource(mix Mix) *Source {
	mix.setDefaults()
	src := &Source{mix: mix, agents: BrowserAgents(mix.Agents), bots: BotAgents()}
	// A few thousand distinct query strings per link would be realistic
	// but costly to hold; 8 variants per link give the same work per
	// click (parsing, decoding, the recorded tags).
	src.targets = make([]string, 0, mix.Links*variants)
	for i := range mix.Links {
		for v := range variants {
			q := ""
			if float64(v)/variants < mix.TaggedShare {
				q = "?utm_source=" + sources[(i+v)%len(sources)] + "&utm_medium=" + mediums[v%len(mediums)] +
					"&utm_campaign=winter-" + strconv.Itoa(v+i%7)
			}
			if float64((v*3)%variants)/variants < mix.PlacedShare {
				sep := "?"
				if q != "" {
					sep = "&"
				}
				q += sep + "placement=" + placements[(i*v)%len(placements)]
			}
			src.targets = append(src.targets, "/c/"+Code(i)+q)
		}
	}
	return src
}

// Links returns the mix's link count (after defaults).
func (src *Source) Links() int { return src.mix.Links }

// Generator draws clicks from a Source. It is not safe for concurrent
// use: give each goroutine its own.
type Generator struct {
	src *Source
	r   *rand.Rand
}

// Generator returns a generator seeded with seed.
func (src *Source) Generator(seed uint64) *Generator {
	return &Generator{src: src, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// New is NewSource(mix).Generator(seed), for a single generator.
func New(mix Mix, seed uint64) *Generator { return NewSource(mix).Generator(seed) }

// Code is the code of link i.
func Code(i int) string { return "c" + strconv.Itoa(i) }

// Next draws a click. Links are drawn with a skew (a few popular courses
// get most clicks), as catalog traffic is.
func (g *Generator) Next() Click {
	r, src := g.r, g.src
	link := int(float64(src.mix.Links) * r.Float64() * r.Float64()) // skewed to low indices
	c := Click{Target: src.targets[link*variants+r.IntN(variants)]}
	if r.Float64() < src.mix.BotShare {
		c.UserAgent, c.Bot = src.bots[r.IntN(len(src.bots))], true
	} else {
		c.UserAgent = src.agents[r.IntN(len(src.agents))]
		if r.Float64() < src.mix.RefererShare {
			c.Referer = referers[r.IntN(len(referers))]
		}
	}
	net := uint32(r.IntN(src.mix.Networks))
	c.IP = netip.AddrFrom4([4]byte{byte(11 + net>>16), byte(net >> 8), byte(net), byte(1 + r.IntN(254))})
	return c
}

var (
	sources    = []string{"newsletter", "twitter", "facebook", "google", "blog", "partner-site", "youtube", "reddit"}
	mediums    = []string{"email", "social", "cpc", "referral", "video"}
	placements = []string{"hero", "sidebar", "footer", "inline-1", "inline-2", "card", "nav"}
	referers   = []string{
		"https://www.google.com/", "https://t.co/", "https://www.facebook.com/", "https://news.ycombinator.com/",
		"https://www.reddit.com/r/learnprogramming/comments/abc123/best_ml_course/",
		"https://blog.example.org/2026/11/ten-courses-to-take-this-winter?ref=home",
		"https://duckduckgo.com/", "https://www.linkedin.com/feed/", "https://mail.google.com/",
	}
)

// BrowserAgents returns n distinct user agents of the shapes browsers
// send (Chrome, Firefox, Safari, Edge, Samsung Internet on desktop and
// mobile platforms, many versions).
func BrowserAgents(n int) []string {
	platforms := []string{
		"Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64", "X11; Ubuntu; Linux x86_64",
		"Windows NT 6.1; Win64; x64", "X11; CrOS x86_64 14541.0.0",
	}
	androids := []string{"Linux; Android 14; Pixel 8", "Linux; Android 13; SM-S918B", "Linux; Android 14; SM-A546B",
		"Linux; Android 12; moto g(60)", "Linux; Android 13; 2201116SG", "Linux; Android 10; K"}
	iphones := []string{"iPhone; CPU iPhone OS 17_6 like Mac OS X", "iPhone; CPU iPhone OS 18_1 like Mac OS X",
		"iPad; CPU OS 17_5 like Mac OS X", "iPhone; CPU iPhone OS 16_7_10 like Mac OS X"}
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	add := func(s string) {
		if !seen[s] && len(out) < n {
			seen[s] = true
			out = append(out, s)
		}
	}
	for i := 0; len(out) < n; i++ {
		major := 100 + i%32
		build := i / 7 % 6000
		switch i % 7 {
		case 0, 1:
			add(fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36",
				platforms[i%len(platforms)], major, 6000+build%400, build%200))
		case 2:
			add(fmt.Sprintf("Mozilla/5.0 (%s; rv:%d.0) Gecko/20100101 Firefox/%d.0.%d", platforms[i%len(platforms)], major+10, major+10, build%5))
		case 3:
			add(fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%d.%d Mobile/15E148 Safari/604.1",
				iphones[i%len(iphones)], 15+i%4, build%7))
		case 4:
			add(fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Mobile Safari/537.36",
				androids[i%len(androids)], major, 6000+build%400, build%200))
		case 5:
			add(fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36 Edg/%d.0.%d.%d",
				platforms[i%len(platforms)], major, 6000+build%400, build%200, major, 2000+build%900, build%100))
		case 6:
			add(fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/%d.%d Chrome/%d.0.0.0 Mobile Safari/537.36",
				androids[i%len(androids)], 20+i%8, build%5, major))
		}
	}
	return out
}

// BotAgents returns crawler, unfurler and tool user agents as they appear
// in access logs.
func BotAgents() []string {
	return []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"Twitterbot/1.0",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
		"WhatsApp/2.23.20.0",
		"TelegramBot (like TwitterBot)",
		"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
		"curl/8.5.0",
		"python-requests/2.32.3",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	}
}
