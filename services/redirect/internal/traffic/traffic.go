package traffic

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"

	"github.com/linkcredit/linkcredit/pkg/useragent"
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
	src := &Source{mix: mix, agents: useragent.Browsers(rand.New(rand.NewPCG(1, 1)), mix.Agents),
		bots: slices.Concat(useragent.Crawlers, useragent.Unfurlers)}
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
