package botcheck

import (
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/useragent"
)

func TestClassifyAgent(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Human},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", Human},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0", Human},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Crawler},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", Crawler},
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", Unfurler},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", Unfurler},
		{"Twitterbot/1.0", Unfurler},
		{"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", Unfurler},
		{"WhatsApp/2.23.20.0", Unfurler},
		{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", Unfurler},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", Headless},
		{"curl/8.5.0", HTTPLibrary},
		{"Wget/1.21.4", HTTPLibrary},
		{"python-requests/2.32.3", HTTPLibrary},
		{"Go-http-client/1.1", HTTPLibrary},
		{"okhttp/4.12.0", HTTPLibrary},
		{"UptimeRobot/2.0", Monitor},
		{"SomeNewBot/0.1", GenericBot},
		{"Mozilla/5.0 (compatible; Foo Bot; +http://foo.example)", GenericBot},
		{"Mozilla/5.0 (compatible; MegaIndex.ru/2.0; +http://megaindex.com/crawler)", GenericBot},
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", Crawler},
		{"Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)", Crawler},
		{"Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)", Crawler},
		{"Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", Crawler},
		{"Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", Crawler},
		// People, whose browsers or phones carry a crawler's company or a
		// generic word in their names (found by an outside check).
		{"Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", Human},
		{"Mozilla/5.0 (Linux; Android 9; CUBOT_X19 Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36", Human},
		{"Mozilla/5.0 (Linux; Android 12; CUBOT_KINGKONG_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", Human},
		{"Mozilla/5.0 (Linux; Android 11; CUBOT-X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", Human},
		{"Mozilla/5.0 (Linux; Android 12; CUBOT) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", Human},
		// Google's shopping crawler, desktop and on Android (a re-check
		// found it counted as a person).
		{"Mozilla/5.0 (X11; Linux x86_64; Storebot-Google/1.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36", Crawler},
		{"Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012; Storebot-Google/1.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Mobile Safari/537.36", Crawler},
		{"Mozilla/5.0 (compatible; SomeBot-News/1.0)", GenericBot},
		// A robot on Android is still one, named outside the model.
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Crawler},
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; SomeBot/1.0)", GenericBot},
		{"Mozilla/5.0 (Linux; Android 12; SM-G991N Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/96.0.4664.104 Mobile Safari/537.36 NAVER(inapp; search; 1000; 11.13.1)", Human},
		{"Mozilla/5.0 (Linux; Android 11; M2101K7AG) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 YaBrowser/23.1.1.114.00 SA/3 Mobile Safari/537.36 YandexSearch/23.13", Human},
		{"Mozilla/5.0 (Linux; Android 10; V2027) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/76.0.3809.89 Mobile Safari/537.36 SogouMobileBrowser/5.28.2", Human},
		{"", EmptyAgent},
		{"   ", EmptyAgent},
	}
	for _, tt := range tests {
		if got := ClassifyAgent(tt.ua); got != tt.want {
			t.Errorf("ClassifyAgent(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}

func TestVerdictSeesPrefetch(t *testing.T) {
	for _, h := range [][2]string{{"Sec-Purpose", "prefetch;prerender"}, {"Purpose", "prefetch"}, {"X-Moz", "prefetch"}} {
		r := httptest.NewRequest("GET", "/c/x", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36")
		r.Header.Set(h[0], h[1])
		if bot, reason := NewChecker(0).Verdict(r.Header.Get("User-Agent"), IsPrefetch(r.Header)); !bot || reason != Prefetch {
			t.Errorf("%s: %s = %v %q", h[0], h[1], bot, reason)
		}
	}
	r := httptest.NewRequest("GET", "/c/x", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36")
	if bot, _ := NewChecker(0).Verdict(r.Header.Get("User-Agent"), IsPrefetch(r.Header)); bot {
		t.Error("a browser was called a bot")
	}
}

func BenchmarkClassifyHuman(b *testing.B) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	b.ReportAllocs()
	for b.Loop() {
		ClassifyAgent(ua)
	}
}

func TestCheckerAgreesAndStaysBounded(t *testing.T) {
	c := NewChecker(3)
	for i, ua := range []string{"curl/8.5.0", "Mozilla/5.0 Chrome/131", "Googlebot/2.1", "a", "b", "curl/8.5.0"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("User-Agent", ua)
		bot, reason := c.Verdict(r.Header.Get("User-Agent"), false)
		if want := ClassifyAgent(ua); reason != want || bot != (want != Human) {
			t.Errorf("%d %q: %v %q, want %q", i, ua, bot, reason, want)
		}
		if len(c.cache) > 3 {
			t.Fatalf("cache grew to %d", len(c.cache))
		}
	}
}

func BenchmarkCheckerHuman(b *testing.B) {
	c := NewChecker(0)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	b.ReportAllocs()
	for b.Loop() {
		c.Verdict(r.Header.Get("User-Agent"), IsPrefetch(r.Header))
	}
}

// The realistic traffic of loadgen and the benchmarks: its browsers are
// people, its crawlers and unfurlers are not.
func TestRealisticTrafficAgents(t *testing.T) {
	for _, ua := range useragent.Browsers(rand.New(rand.NewPCG(1, 2)), 5000) {
		if got := ClassifyAgent(ua); got != Human {
			t.Errorf("browser %q = %q", ua, got)
		}
	}
	for _, ua := range slices.Concat(useragent.Crawlers, useragent.Unfurlers) {
		if got := ClassifyAgent(ua); got == Human {
			t.Errorf("bot %q = human", ua)
		}
	}
}

// FuzzClassifyAgent: any agent gets a reason code Reasons lists (or none),
// and never a panic (the device model's blanking cuts by index).
func FuzzClassifyAgent(f *testing.F) {
	for _, s := range []string{"Mozilla/5.0 (Linux; Android 9; CUBOT_X19 Build/P)", "android)(;", "(;android", "SomeBot/1.0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := ClassifyAgent(ua)
		if got != Human && !slices.Contains(Reasons(), got) {
			t.Fatalf("%q: reason %q", ua, got)
		}
		if len(withoutDeviceModel(strings.ToLower(ua))) != len(strings.ToLower(ua)) {
			t.Fatalf("%q: the blanking changed the agent's length", ua)
		}
	})
}
