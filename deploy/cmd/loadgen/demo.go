package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/linkcredit/linkcredit/deploy/loadgen"
)

// courses is the demo's catalog feed.
//
//go:embed courses.csv
var courses []byte

// demoPartners are registered with their adapters: two sign webhooks (and
// send postbacks with the contract's names), one posts back through the
// impact.com adapter.
func demoPartners() []loadgen.Partner {
	return []loadgen.Partner{
		{ID: "coursera", Name: "Coursera", Currency: "USD", Secret: loadgen.NewSecret(), Token: "demo-coursera-postback-token"},
		{ID: "edx", Name: "edX", Currency: "USD", Secret: loadgen.NewSecret(), Token: "demo-edx-postback-token-0001"},
		{ID: "udemy", Name: "Udemy (via impact.com)", Currency: "USD", Token: "demo-udemy-impact-postback-01", Adapter: "impact"},
	}
}

// feedLinks parses the course feed: code,partner,course_id,title.
func feedLinks(feed []byte) ([]loadgen.Link, error) {
	rows, err := csv.NewReader(bytes.NewReader(feed)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("course feed: %w", err)
	}
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"code", "partner", "course_id", "title"}) {
		return nil, fmt.Errorf("course feed: want a header code,partner,course_id,title and rows")
	}
	links := make([]loadgen.Link, 0, len(rows)-1)
	for _, r := range rows[1:] {
		links = append(links, loadgen.Link{Code: r[0], Partner: r[1], CourseID: r[2], Title: r[3]})
	}
	return links, nil
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs, getenv)
	history := fs.Int64("history", 600, "clicks behind the month of backdated purchases")
	rate := fs.Float64("rate", 3, "live clicks per second after the history")
	duration := fs.Duration("duration", 0, "how long to keep the live traffic going (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token, err := sf.adminToken()
	if err != nil {
		return err
	}
	stack, err := loadgen.NewStack(sf.redirect, sf.conversions, sf.reporting, token)
	if err != nil {
		return err
	}
	for _, base := range []string{stack.Redirect, stack.Conversions, stack.Reporting} {
		if err := ready(ctx, stack, base); err != nil {
			return fmt.Errorf("%w: start the stack first (make run, in another terminal)", err)
		}
	}
	links, err := feedLinks(courses)
	if err != nil {
		return err
	}
	partners := demoPartners()
	run := "demo" + strconv.FormatInt(time.Now().Unix(), 36)
	base := loadgen.Config{LinkSet: links, Partners: partners, SourceIPs: true, UserAgents: 3000,
		Crawlers: 0.015, Unfurlers: 0.005, Heads: 0.01, Progress: stderr}

	fmt.Fprintf(stdout, "demo: registering %d partners and %d course links from the feed ...\n", len(partners), len(links))
	history1 := base
	history1.Run, history1.MaxClicks, history1.Concurrency = run+"h", *history, 8
	history1.ConversionShare, history1.Backdate = 0.3, 30*24*time.Hour
	r := loadgen.NewRunner(stack, history1)
	if err := r.Setup(ctx); err != nil {
		return err
	}
	if err := putDemoRates(ctx, stack); err != nil {
		fmt.Fprintf(stdout, "demo: fx rates not set (%v); reports in one currency need them\n", err)
	}
	fmt.Fprintf(stdout, "demo: %d clicks and a month of backdated purchases ...\n", *history)
	res := r.Clicks(ctx)
	printResult(stdout, res)
	if ctx.Err() != nil {
		return nil
	}
	today := time.Now().UTC()
	from := today.AddDate(0, 0, -31).Format(time.DateOnly)
	to := today.AddDate(0, 0, 1).Format(time.DateOnly)
	fmt.Fprintf(stdout, `
The dashboard:   %s/  (sign in with a finance token; locally the admin token will do: cat %s/admin-token)
A report:        curl -H "Authorization: Bearer $(cat %s/admin-token)" "%s/v1/reports/commissions?from=%s&to=%s&group_by=partner,course&format=csv"
Live traffic now at %.0f clicks/s with purchases; Ctrl-C stops the demo (the stack keeps running).
`, stack.Reporting, sf.dataDir, sf.dataDir, stack.Reporting, from, to, *rate)
	live := base
	live.Run, live.Rate, live.Duration, live.Concurrency = run+"l", *rate, *duration, 4
	live.ConversionShare, live.Backdate = 0.08, time.Hour
	res = loadgen.NewRunner(stack, live).Clicks(ctx)
	printResult(stdout, res)
	return nil
}

// putDemoRates sets a EUR→USD rate from before the backdated month, so
// reports in one currency (currency=USD) work on the demo's EUR sales.
func putDemoRates(ctx context.Context, stack *loadgen.Stack) error {
	day := time.Now().UTC().AddDate(0, 0, -32).Format(time.DateOnly)
	body := fmt.Sprintf(`[{"date":%q,"base":"EUR","quote":"USD","rate":"1.0832"},{"date":%q,"base":"USD","quote":"EUR","rate":"0.9232"}]`, day, day)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, stack.Reporting+"/v1/fx-rates", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+stack.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := stack.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT /v1/fx-rates: %d %s", resp.StatusCode, b)
	}
	return nil
}

func ready(ctx context.Context, stack *loadgen.Stack, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := stack.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s is not answering", base)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/readyz answers %d", base, resp.StatusCode)
	}
	return nil
}
