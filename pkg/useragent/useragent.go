// Package useragent makes realistic User-Agent headers for the load tools
// and benchmarks: thousands of distinct browsers (Chrome, Firefox, Safari,
// Edge, Opera, Samsung Internet on desktop and mobile platforms, many
// versions), and the crawlers and link unfurlers a catalog's links meet.
// make bench, make demo and make chaos (deploy/loadgen) and the redirect's
// in-process benchmarks draw from the same lists. It is test tooling: no
// service reads it.
package useragent

import (
	"fmt"
	"math/rand/v2"
)

// Crawlers and Unfurlers are user agents, as they appear in access logs,
// that the redirect must flag as bots.
var (
	Crawlers = []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
		"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
		"Mozilla/5.0 (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ClaudeBot/1.0; +claudebot@anthropic.com",
	}
	Unfurlers = []string{
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
		"Twitterbot/1.0",
		"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
		"WhatsApp/2.23.20.0",
		"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
		"TelegramBot (like TwitterBot)",
	}
)

type platform struct {
	os     string // the part in parentheses
	mobile bool
	apple  bool // Safari runs here
}

func platforms() []platform {
	var out []platform
	for _, w := range []string{"Windows NT 10.0; Win64; x64", "Windows NT 10.0; WOW64", "Windows NT 6.1; Win64; x64"} {
		out = append(out, platform{os: w})
	}
	for _, v := range []string{"10_15_7", "11_7_10", "12_7_4", "13_6_7", "14_5", "14_7_1", "15_1"} {
		out = append(out, platform{os: "Macintosh; Intel Mac OS X " + v, apple: true})
	}
	for _, l := range []string{"X11; Linux x86_64", "X11; Ubuntu; Linux x86_64", "X11; Fedora; Linux x86_64", "X11; CrOS x86_64 15917.71.0"} {
		out = append(out, platform{os: l})
	}
	for _, a := range []string{"10", "11", "12", "13", "14", "15"} {
		for _, d := range []string{"SM-G991B", "SM-S918B", "Pixel 7", "Pixel 8 Pro", "moto g power (2023)", "M2101K6G", "CPH2581", "K"} {
			out = append(out, platform{os: "Linux; Android " + a + "; " + d, mobile: true})
		}
	}
	for _, v := range []string{"15_8", "16_7_10", "17_5_1", "17_6_1", "18_0", "18_1_1"} {
		out = append(out, platform{os: "iPhone; CPU iPhone OS " + v + " like Mac OS X", mobile: true, apple: true})
		out = append(out, platform{os: "iPad; CPU OS " + v + " like Mac OS X", mobile: true, apple: true})
	}
	return out
}

// Browsers returns n distinct, realistic browser user agents, built from
// browser, operating system, device and version combinations (millions
// are possible). The same rng gives the same list.
func Browsers(rng *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	plats := platforms()
	for tries := 0; len(out) < n && tries < 50*n+1000; tries++ {
		ua := userAgent(rng, plats[rng.IntN(len(plats))])
		if !seen[ua] {
			seen[ua] = true
			out = append(out, ua)
		}
	}
	return out
}

func userAgent(rng *rand.Rand, p platform) string {
	chrome := fmt.Sprintf("%d.0.%d.%d", 109+rng.IntN(23), 5414+rng.IntN(1400), rng.IntN(200))
	webkit := "AppleWebKit/537.36 (KHTML, like Gecko)"
	mobile := ""
	if p.mobile {
		mobile = " Mobile"
	}
	switch b := rng.IntN(10); {
	case p.apple && p.mobile && b < 7: // Safari on iOS
		v := fmt.Sprintf("%d.%d", 15+rng.IntN(4), rng.IntN(7))
		return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%s Mobile/15E148 Safari/604.1", p.os, v)
	case p.apple && p.mobile: // Chrome on iOS
		return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/%s Mobile/15E148 Safari/604.1", p.os, chrome)
	case p.apple && b < 4: // Safari on macOS
		v := fmt.Sprintf("%d.%d", 15+rng.IntN(4), rng.IntN(7))
		return fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%s Safari/605.1.15", p.os, v)
	case b < 2: // Firefox
		v := fmt.Sprintf("%d.0", 115+rng.IntN(18))
		osPart := p.os
		if p.mobile {
			return fmt.Sprintf("Mozilla/5.0 (Android %s; Mobile; rv:%s) Gecko/%s Firefox/%s", androidVersion(p.os), v, v, v)
		}
		return fmt.Sprintf("Mozilla/5.0 (%s; rv:%s) Gecko/20100101 Firefox/%s", osPart, v, v)
	case b < 4 && !p.mobile: // Edge
		return fmt.Sprintf("Mozilla/5.0 (%s) %s Chrome/%s Safari/537.36 Edg/%s", p.os, webkit, chrome, chrome)
	case b < 5 && p.mobile: // Samsung Internet
		return fmt.Sprintf("Mozilla/5.0 (%s) %s SamsungBrowser/%d.0 Chrome/%s Mobile Safari/537.36", p.os, webkit, 20+rng.IntN(7), chrome)
	case b < 5: // Opera
		return fmt.Sprintf("Mozilla/5.0 (%s) %s Chrome/%s Safari/537.36 OPR/%d.0.0.0", p.os, webkit, chrome, 95+rng.IntN(20))
	default: // Chrome
		return fmt.Sprintf("Mozilla/5.0 (%s) %s Chrome/%s%s Safari/537.36", p.os, webkit, chrome, mobile)
	}
}

func androidVersion(os string) string {
	var v string
	if _, err := fmt.Sscanf(os, "Linux; Android %s", &v); err != nil {
		return "14"
	}
	if len(v) > 0 && v[len(v)-1] == ';' {
		v = v[:len(v)-1]
	}
	return v
}
