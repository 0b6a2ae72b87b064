package botcheck

import (
	"net/http"
	"strings"
	"sync"

	"github.com/linkcredit/linkcredit/pkg/events"
)

// Reason codes, stable: reports and dashboards group by them.
const (
	Human       = ""
	Crawler     = "crawler"      // search engines and SEO crawlers
	Unfurler    = "unfurler"     // chat and social previews (Slackbot, facebookexternalhit, ...)
	Headless    = "headless"     // automated browsers
	HTTPLibrary = "http_library" // curl, wget, language HTTP clients
	Monitor     = "monitor"      // uptime checks
	Prefetch    = "prefetch"     // browser prefetch and prerender
	EmptyAgent  = "empty_agent"  // no User-Agent at all
	GenericBot  = "generic_bot"  // says bot, crawler or spider without a known name
	// OversizedAgent: a User-Agent longer than events.MaxUserAgentBytes
	// (contract v1.1). No browser sends one; the click records only the
	// agent's first bytes, so this reason wins over what they say.
	OversizedAgent = "oversized_user_agent"
)

// signatures maps lower-case User-Agent substrings to reasons, checked in
// order, before the generic words (genericWords). A name is a crawler's own
// ("yandexbot", not "yandex": Yandex's and Naver's apps browse as people
// with their names in the agent).
var signatures = []struct{ substr, reason string }{
	// Link unfurlers: a chat message or a post, not a person.
	{"slackbot", Unfurler}, {"slack-imgproxy", Unfurler}, {"facebookexternalhit", Unfurler},
	{"facebookcatalog", Unfurler}, {"meta-externalagent", Unfurler}, {"twitterbot", Unfurler},
	{"linkedinbot", Unfurler}, {"whatsapp", Unfurler}, {"discordbot", Unfurler},
	{"telegrambot", Unfurler}, {"skypeuripreview", Unfurler}, {"microsoftpreview", Unfurler},
	{"pinterestbot", Unfurler}, {"redditbot", Unfurler}, {"embedly", Unfurler},
	{"iframely", Unfurler}, {"mastodon", Unfurler}, {"bluesky", Unfurler}, {"vkshare", Unfurler},
	{"google-pagerenderer", Unfurler}, {"applebot", Crawler},
	// Search engines and SEO crawlers.
	{"googlebot", Crawler}, {"storebot-google", Crawler}, {"google-inspectiontool", Crawler}, {"adsbot-google", Crawler},
	{"mediapartners-google", Crawler}, {"bingbot", Crawler}, {"bingpreview", Crawler},
	{"duckduckbot", Crawler}, {"baiduspider", Crawler}, {"yandexbot", Crawler}, {"yandex.com/bots", Crawler},
	{"sogou web spider", Crawler}, {"sogou spider", Crawler}, {"exabot", Crawler}, {"seznambot", Crawler},
	{"yeti/", Crawler}, {"naver.me/spd", Crawler}, {"slurp", Crawler},
	{"petalbot", Crawler}, {"ahrefsbot", Crawler}, {"semrushbot", Crawler}, {"mj12bot", Crawler},
	{"dotbot", Crawler}, {"rogerbot", Crawler}, {"screaming frog", Crawler}, {"gptbot", Crawler},
	{"chatgpt-user", Crawler}, {"oai-searchbot", Crawler}, {"claudebot", Crawler},
	{"claude-web", Crawler}, {"perplexitybot", Crawler}, {"ccbot", Crawler}, {"bytespider", Crawler},
	{"amazonbot", Crawler}, {"ia_archiver", Crawler}, {"archive.org_bot", Crawler},
	// Automated browsers.
	{"headlesschrome", Headless}, {"phantomjs", Headless}, {"puppeteer", Headless},
	{"playwright", Headless}, {"selenium", Headless}, {"webdriver", Headless}, {"electron", Headless},
	{"cypress", Headless}, {"lighthouse", Headless}, {"chrome-lighthouse", Headless},
	// HTTP tools and libraries.
	{"curl/", HTTPLibrary}, {"wget/", HTTPLibrary}, {"python-requests", HTTPLibrary},
	{"python-urllib", HTTPLibrary}, {"aiohttp", HTTPLibrary}, {"httpx", HTTPLibrary},
	{"go-http-client", HTTPLibrary}, {"java/", HTTPLibrary}, {"okhttp", HTTPLibrary},
	{"apache-httpclient", HTTPLibrary}, {"libwww-perl", HTTPLibrary}, {"node-fetch", HTTPLibrary},
	{"axios/", HTTPLibrary}, {"undici", HTTPLibrary}, {"got (", HTTPLibrary}, {"ruby", HTTPLibrary},
	{"php/", HTTPLibrary}, {"guzzlehttp", HTTPLibrary}, {"httpie", HTTPLibrary},
	{"postmanruntime", HTTPLibrary}, {"insomnia", HTTPLibrary}, {"wrk", HTTPLibrary},
	{"apachebench", HTTPLibrary}, {"scrapy", HTTPLibrary}, {"reqwest", HTTPLibrary},
	{"dart:io", HTTPLibrary}, {"libcurl", HTTPLibrary},
	// Monitors.
	{"uptimerobot", Monitor}, {"pingdom", Monitor}, {"statuscake", Monitor},
	{"site24x7", Monitor}, {"datadog", Monitor}, {"newrelicpinger", Monitor}, {"better uptime", Monitor},
}

// genericWords say bot without a known name: each counts only as a word of
// its own or a name's end before its version or comment ("SomeBot/1.0",
// "(compatible; Foo Bot)", ".../crawler)"), not inside a browser's device
// name (a CUBOT phone's "CUBOT X19").
var genericWords = []struct{ word, reason string }{
	{"bot", GenericBot}, {"crawler", GenericBot}, {"spider", GenericBot}, {"scraper", GenericBot},
	{"preview", Unfurler}, {"fetcher", GenericBot},
}

// saysWord reports whether lower holds word as genericWords counts it.
func saysWord(lower, word string) bool {
	for from := 0; ; {
		i := strings.Index(lower[from:], word)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(word)
		var before, after byte = ' ', 0
		if i > 0 {
			before = lower[i-1]
		}
		if end < len(lower) {
			after = lower[end]
		}
		switch {
		case after == 0 || strings.IndexByte("/;)+-_:.,([", after) >= 0:
			return true
		case !isLetter(before) && !isLetter(after):
			return true
		}
		from = i + 1
	}
}

// withoutDeviceModel is lower (a lower-case User-Agent) with an Android
// browser's device model blanked: the last part of the comment that names
// Android ("(Linux; Android 9; CUBOT_X19 Build/PPR1.180610.011)"), which a
// phone maker fills with whatever its brand spells.
func withoutDeviceModel(lower string) string {
	at := strings.Index(lower, "android")
	if at < 0 {
		return lower
	}
	open := strings.LastIndexByte(lower[:at], '(')
	end := strings.IndexByte(lower[at:], ')')
	if open < 0 || end < 0 {
		return lower
	}
	end += at
	model := strings.LastIndexByte(lower[:end], ';')
	if model < at {
		return lower // "(Linux; Android 9)": no model
	}
	return lower[:model+1] + strings.Repeat(" ", end-model-1) + lower[end:]
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// IsPrefetch reports whether request headers mark a prefetch or prerender,
// which no person asked for.
func IsPrefetch(h http.Header) bool {
	for _, name := range []string{"Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		v := strings.ToLower(h.Get(name))
		if strings.Contains(v, "prefetch") || strings.Contains(v, "prerender") || strings.Contains(v, "preview") {
			return true
		}
	}
	return false
}

// ClassifyAgent returns the reason a User-Agent is a bot's, or Human.
func ClassifyAgent(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return EmptyAgent
	}
	lower := strings.ToLower(ua)
	for _, s := range signatures {
		if strings.Contains(lower, s.substr) {
			return s.reason
		}
	}
	// A phone's model is no robot's name, whatever it spells ("CUBOT_X19").
	generic := withoutDeviceModel(lower)
	for _, g := range genericWords {
		if saysWord(generic, g.word) {
			return g.reason
		}
	}
	return Human
}

// Reasons lists every reason code, for metrics and documentation.
func Reasons() []string {
	return []string{Crawler, Unfurler, Headless, HTTPLibrary, Monitor, Prefetch, EmptyAgent, GenericBot, OversizedAgent}
}

// Checker is Verdict with a bounded cache of User-Agent verdicts: traffic
// carries a few thousand distinct agents, and a scan of the list costs
// microseconds while a cache hit costs tens of nanoseconds.
type Checker struct {
	mu    sync.RWMutex
	cache map[string]string
	max   int
}

// NewChecker caches up to max agents (default 20,000); when full, the
// cache starts over, which bounds memory against agent-string floods: keys
// are at most events.MaxUserAgentBytes, so the default holds at most
// about 12 MB (20,000 x (512 + ~80 bytes of map entry and string header)).
func NewChecker(max int) *Checker {
	if max <= 0 {
		max = 20000
	}
	return &Checker{cache: make(map[string]string, 1024), max: max}
}

// Verdict classifies a click by its User-Agent and whether it was a
// prefetch (IsPrefetch). HEAD requests never reach it: they are answered
// without recording a click at all.
func (c *Checker) Verdict(ua string, prefetch bool) (bool, string) {
	if prefetch {
		return true, Prefetch
	}
	if len(ua) > events.MaxUserAgentBytes {
		// The service passes the cut agent; bound the key for any caller.
		ua = ua[:events.MaxUserAgentBytes]
	}
	c.mu.RLock()
	reason, ok := c.cache[ua]
	c.mu.RUnlock()
	if !ok {
		reason = ClassifyAgent(ua)
		c.mu.Lock()
		if len(c.cache) >= c.max {
			c.cache = make(map[string]string, 1024)
		}
		c.cache[strings.Clone(ua)] = reason
		c.mu.Unlock()
	}
	return reason != Human, reason
}
