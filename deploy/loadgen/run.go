package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/useragent"
)

// Config is one load run.
type Config struct {
	// Run prefixes link codes, partner ids, order and event ids, so runs
	// never collide and reconciliation knows what is this run's.
	Run string
	// Links to create (Links) or use as given (LinkSet).
	Links   int
	LinkSet []Link
	// Partners to register; nil gives DefaultPartners(Run).
	Partners []Partner
	// Rate in clicks per second, on a fixed schedule (open loop: a slow
	// server does not slow the sender; a click due while every worker is
	// busy goes out as soon as one is free, its latency counted from when
	// it fell due: duePacer); 0 sends as fast as Concurrency workers can
	// (closed loop). With MaxClicks and no Duration, a run at a rate sends
	// all MaxClicks, however late.
	Rate        float64
	Duration    time.Duration
	MaxClicks   int64 // stop after this many requests; 0 no limit
	Concurrency int
	// UserAgents is how many distinct browser user agents to draw from.
	UserAgents int
	// Shares of requests: crawlers, unfurlers, HEAD requests.
	Crawlers, Unfurlers, Heads float64
	// ConversionShare of acknowledged human clicks get a conversion.
	ConversionShare float64
	Mix             Mix
	// Backdate spreads purchase times over [now-Backdate, now].
	Backdate time.Duration
	// ConversionWorkers deliver conversions; RetryFor is how long one
	// event is retried (5xx, 429, no answer) before it is left in doubt.
	ConversionWorkers int
	RetryFor          time.Duration
	// SourceIPs makes each worker connect from its own 127.x.y.z, as
	// visitors from many networks do.
	SourceIPs bool
	Seed      uint64
	// Progress gets the run's progress: on a terminal a line rewritten
	// each second, else a line every 10 s; nil for none.
	Progress io.Writer
	// Ledger to record in (runs of one benchmark share one); nil a new one.
	Ledger *Ledger
	// OnAck, when set, is called with every acknowledged click and when
	// its 302 arrived (from many goroutines).
	OnAck func(ClickAck, time.Time)
}

func (c *Config) setDefaults() {
	if c.Run == "" {
		c.Run = "lg" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
	if c.Links == 0 && c.LinkSet == nil {
		c.Links = 10000
	}
	if c.Partners == nil {
		c.Partners = DefaultPartners(c.Run)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.UserAgents <= 0 {
		c.UserAgents = 5000
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.ConversionWorkers <= 0 {
		c.ConversionWorkers = 16
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 2 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
}

// DefaultPartners are a run's partners: two that sign webhooks (and may
// send postbacks with the contract's parameter names) and one whose
// postbacks come in impact.com's names through its adapter.
func DefaultPartners(run string) []Partner {
	return []Partner{
		{ID: run + "-coursera", Name: "Coursera (" + run + ")", Currency: "USD", Secret: NewSecret(), Token: "tok_" + run + "_coursera_postback"},
		{ID: run + "-edx", Name: "edX (" + run + ")", Currency: "USD", Secret: NewSecret(), Token: "tok_" + run + "_edx_postback_xx"},
		{ID: run + "-impact", Name: "Udemy via Impact (" + run + ")", Currency: "USD", Token: "tok_" + run + "_impact_postback", Adapter: "impact"},
	}
}

// GenerateLinks returns n links over the partners.
func GenerateLinks(run string, n int, partners []Partner) []Link {
	links := make([]Link, n)
	for i := range links {
		links[i] = Link{Code: fmt.Sprintf("%s-%05d", run, i), Partner: partners[i%len(partners)].ID,
			CourseID: fmt.Sprintf("course-%05d", i), Title: fmt.Sprintf("Course %d", i)}
	}
	return links
}

// Runner sends a run's traffic and keeps its ledger.
type Runner struct {
	cfg      Config
	stack    *Stack
	Ledger   *Ledger
	links    []Link
	partners map[string]Partner
	uas      []string
	orderSeq atomic.Int64
}

// NewRunner prepares a run against stack.
func NewRunner(stack *Stack, cfg Config) *Runner {
	cfg.setDefaults()
	r := &Runner{cfg: cfg, stack: stack, Ledger: cfg.Ledger, partners: map[string]Partner{}}
	if r.Ledger == nil {
		r.Ledger = NewLedger()
	}
	r.uas = useragent.Browsers(rand.New(rand.NewPCG(cfg.Seed, 1)), cfg.UserAgents)
	for _, p := range cfg.Partners {
		r.partners[p.ID] = p
	}
	r.links = cfg.LinkSet
	if r.links == nil {
		r.links = GenerateLinks(cfg.Run, cfg.Links, cfg.Partners)
	}
	for _, p := range cfg.Partners {
		r.Ledger.AddPartner(p.ID)
	}
	for _, l := range r.links {
		r.Ledger.AddLink(l.Code)
	}
	return r
}

// Config returns the run's settings, defaults filled in.
func (r *Runner) Config() Config { return r.cfg }

// Links returns the run's links.
func (r *Runner) Links() []Link { return r.links }

// Setup registers the partners and creates the links.
func (r *Runner) Setup(ctx context.Context) error {
	for _, p := range r.cfg.Partners {
		if err := r.stack.PutPartner(ctx, p); err != nil {
			return fmt.Errorf("register partner %s: %w", p.ID, err)
		}
	}
	return r.stack.ImportLinks(ctx, r.links)
}

// Result sums up a run's clicks.
type Result struct {
	// Redirects are GETs answered 302; Acked those with an X-Click-Id (a
	// bare yardstick server answers 302 without one). At a rate, NotSent
	// are the clicks that fell due in the run and were not sent by its end.
	Sent, Redirects, Acked, Heads, Bots, NotSent, NoAnswer int64
	Statuses                                               map[int]int64
	// Latency is the GETs answered 302, as loadgen saw them: at a rate,
	// from when each fell due (duePacer), else from its send.
	Latency Hist
	// SocketLatency is the same GETs' from the request's write (after
	// any dial, which Latency includes) to the
	// kernel's receive time of the answer: without loadgen's own wait to
	// run and read it (Linux only; empty elsewhere).
	SocketLatency         Hist
	Elapsed               time.Duration
	Orders, OrdersDropped int64
	Events                EventStats
}

// EventStats counts conversion deliveries.
type EventStats struct {
	Sent, Acked, Replayed, Refused, InDoubt, Retries int64
	Latency                                          Hist
}

// Rate is acknowledged clicks per second.
func (res *Result) Rate() float64 { return float64(res.Acked) / res.Elapsed.Seconds() }

// RedirectRate is GETs answered 302 per second.
func (res *Result) RedirectRate() float64 { return float64(res.Redirects) / res.Elapsed.Seconds() }

var (
	placements = []string{"hero", "sidebar", "footer", "newsletter", "search", "card", "related"}
	sources    = []string{"newsletter", "google", "twitter", "linkedin", "blog", "youtube", "partner.site"}
	mediums    = []string{"email", "cpc", "social", "organic", "referral"}
	campaigns  = []string{"fall-sale", "black-friday", "new-courses", "ai-week", "career-switch", "spring"}
	referers   = []string{"https://www.google.com/", "https://news.ycombinator.com/item?id=1", "https://www.reddit.com/r/learnprogramming/",
		"https://t.co/abc", "https://www.linkedin.com/feed/", "https://catalog.example/courses/data"}
)

type clickReq struct {
	target, ua, referer string // target: the request's path and query
	link                int
	head, bot           bool
}

func (r *Runner) nextClick(rng *rand.Rand) clickReq {
	// Catalog traffic is skewed: half the clicks go to the first 2 % of
	// links (at least the first five).
	n := len(r.links)
	i := rng.IntN(n)
	if rng.IntN(2) == 0 {
		i = rng.IntN(min(n, max(5, n/50)))
	}
	c := clickReq{link: i, ua: r.uas[rng.IntN(len(r.uas))]}
	switch x := rng.Float64(); {
	case x < r.cfg.Crawlers:
		c.ua, c.bot = useragent.Crawlers[rng.IntN(len(useragent.Crawlers))], true
	case x < r.cfg.Crawlers+r.cfg.Unfurlers:
		c.ua, c.bot = useragent.Unfurlers[rng.IntN(len(useragent.Unfurlers))], true
	case x < r.cfg.Crawlers+r.cfg.Unfurlers+r.cfg.Heads:
		c.head = true
	}
	q := url.Values{}
	if rng.IntN(10) < 7 {
		q.Set("placement", placements[rng.IntN(len(placements))])
	}
	if rng.IntN(10) < 6 {
		q.Set("utm_source", sources[rng.IntN(len(sources))])
		q.Set("utm_medium", mediums[rng.IntN(len(mediums))])
		if rng.IntN(2) == 0 {
			q.Set("utm_campaign", campaigns[rng.IntN(len(campaigns))])
		}
	}
	c.target = "/c/" + r.links[i].Code
	if len(q) > 0 {
		c.target += "?" + q.Encode()
	}
	if rng.IntN(3) > 0 {
		c.referer = referers[rng.IntN(len(referers))]
	}
	return c
}

// clickConn is a worker's connection, from its own loopback address when
// SourceIPs is set.
func (r *Runner) clickConn(rng *rand.Rand) *rawConn {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if r.cfg.SourceIPs {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(1+rng.IntN(254)), byte(rng.IntN(256)), byte(1+rng.IntN(254)))}
	}
	u, _ := url.Parse(r.stack.Redirect) // checked by NewStack
	return &rawConn{addr: u.Host, dialer: d, timeout: 10 * time.Second}
}

type worker struct {
	res     Result
	acks    []ClickAck // acknowledged, not yet in the ledger
	flushed time.Time  // when acks last went to the ledger
	ev      EventStats // conversions it delivers itself
}

// Clicks sends the run's click traffic (and the conversions of a share of
// it) until Duration or MaxClicks is reached or ctx ends, then waits for
// every conversion to be delivered.
func (r *Runner) Clicks(ctx context.Context) *Result {
	cfg := r.cfg
	began := time.Now()
	runCtx, cancel := runContext(ctx, began, cfg.Duration)
	defer cancel()
	orders := make(chan Order, 4096)
	evStats := make([]EventStats, cfg.ConversionWorkers)
	var convWG sync.WaitGroup
	for i := range cfg.ConversionWorkers {
		convWG.Add(1)
		go func() {
			defer convWG.Done()
			for o := range orders {
				r.deliverOrder(ctx, o, &evStats[i])
			}
		}()
	}

	// At a rate, clicks fall due on a fixed schedule and their latencies
	// count from when they fell due (duePacer).
	pacer, stop := pace(runCtx, began, cfg.Rate, cfg.MaxClicks)
	defer stop()
	// The ledger's counts before this run's first click: a ledger may be
	// shared by several runs (the bench's phases), and progress counts
	// this one's.
	baseClicks, baseEvents, _, _ := r.Ledger.Counts()
	var ordersDropped atomic.Int64
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{res: Result{Statuses: map[int]int64{}}, flushed: time.Now()}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+100))
			conn := r.clickConn(rng)
			defer conn.close()
			for {
				due, ok := pacer.next(runCtx)
				if !ok {
					break
				}
				r.click(ctx, conn, rng, w, due, orders, &ordersDropped)
				// In batches, for the ledger's lock; at least once a second,
				// so that a gentle run's progress line (make demo) keeps up.
				if len(w.acks) >= 1024 || len(w.acks) > 0 && time.Since(w.flushed) >= time.Second {
					r.Ledger.AddClicks(w.acks)
					w.acks, w.flushed = w.acks[:0], time.Now()
				}
			}
			r.Ledger.AddClicks(w.acks)
		}()
	}
	stopProgress := r.progress(runCtx, began, baseClicks, baseEvents)
	wg.Wait()
	end := time.Now()
	res := &Result{Statuses: map[int]int64{}, Elapsed: end.Sub(began)}
	stopProgress()
	close(orders)
	convWG.Wait()
	for _, w := range workers {
		res.Sent += w.res.Sent
		res.Acked += w.res.Acked
		res.Redirects += w.res.Redirects
		res.Heads += w.res.Heads
		res.Bots += w.res.Bots
		res.NoAnswer += w.res.NoAnswer
		res.Orders += w.res.Orders
		for k, v := range w.res.Statuses {
			res.Statuses[k] += v
		}
		res.Latency.Merge(&w.res.Latency)
		res.SocketLatency.Merge(&w.res.SocketLatency)
		res.Events.add(&w.ev)
	}
	for i := range evStats {
		res.Events.add(&evStats[i])
	}
	res.NotSent = pacer.notSent(end, res.Sent)
	res.OrdersDropped = ordersDropped.Load()
	return res
}

func (s *EventStats) add(o *EventStats) {
	s.Sent += o.Sent
	s.Acked += o.Acked
	s.Replayed += o.Replayed
	s.Refused += o.Refused
	s.InDoubt += o.InDoubt
	s.Retries += o.Retries
	s.Latency.Merge(&o.Latency)
}

// progress writes the run's progress while it lasts (Config.Progress),
// counting from baseClicks and baseEvents. Counts come from the ledger,
// which workers fill in batches: a line may be up to a second behind.
func (r *Runner) progress(ctx context.Context, began time.Time, baseClicks, baseEvents int) func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	// On a terminal the line is rewritten each second; into a file or a
	// pipe a line goes out every 10 s, so a log stays lines.
	inPlace := cli.IsTerminal(r.cfg.Progress)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		// Silent for this long is worth a word: 5 s, or longer at a
		// rate slow enough that 5 s may hold no click.
		quiet := 5
		if rate := r.cfg.Rate; rate > 0 && rate < 1 {
			quiet = int(math.Ceil(5 / rate))
		}
		var last, lastPrinted int64
		idle := 0 // seconds in a row without an acknowledged click
		for tick := 1; ; tick++ {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			clicks, events, _, _ := r.Ledger.Counts()
			clicks, events = clicks-baseClicks, events-baseEvents
			if int64(clicks) == last {
				idle++
			} else {
				idle = 0
			}
			warn := ""
			// Only once it has acknowledged clicks: a bare yardstick server
			// answers without a click id, so none is ever acknowledged.
			if idle >= quiet && clicks > 0 {
				warn = fmt.Sprintf(" nothing acknowledged for %d s: is the stack up?", idle)
			}
			line := func(rate float64, over string) string {
				return fmt.Sprintf("  %5.0fs  %8d clicks acknowledged (%8.1f/s%s)  %6d conversion events acknowledged%s",
					time.Since(began).Seconds(), clicks, rate, over, events, warn)
			}
			switch {
			case inPlace:
				fmt.Fprintf(r.cfg.Progress, "\r\033[K%s", line(float64(int64(clicks)-last), "")) // the line cleared, whatever its length
			case tick%10 == 0:
				// Not cut to whole clicks a second: make demo's 29 clicks
				// in 10 s read 2.9/s, not 2/s against its promised 3.
				fmt.Fprintln(r.cfg.Progress, line(float64(int64(clicks)-lastPrinted)/10, " over 10 s"))
				lastPrinted = int64(clicks)
			}
			last = int64(clicks)
		}
	}()
	return func() {
		close(done)
		<-stopped
		if inPlace {
			fmt.Fprintln(r.cfg.Progress)
		}
	}
}

// click sends one click; its latency counts from due (duePacer.next), or
// from its send when due is zero.
func (r *Runner) click(ctx context.Context, conn *rawConn, rng *rand.Rand, w *worker, due time.Time, orders chan<- Order, dropped *atomic.Int64) {
	c := r.nextClick(rng)
	method := http.MethodGet
	if c.head {
		method = http.MethodHead
	}
	w.res.Sent++
	start := startOf(due)
	ans, err := conn.do(method, c.target, conn.addr, c.ua, c.referer)
	if err != nil {
		w.res.NoAnswer++
		if !c.head && wasSent(err) {
			r.Ledger.ClickInDoubt(r.links[c.link].Code)
		}
		pause(ctx, errorPause)
		return
	}
	w.res.Statuses[ans.status]++
	if c.head {
		w.res.Heads++
		return
	}
	if ans.status != http.StatusFound {
		return
	}
	answered := time.Now()
	w.res.Latency.Add(answered.Sub(start))
	if ans.arrived != 0 {
		w.res.SocketLatency.Add(time.Duration(ans.arrived - ans.sent.UnixNano()))
	}
	w.res.Redirects++
	id := ans.clickID
	if id == "" {
		return
	}
	w.res.Acked++
	link := r.links[c.link]
	ack := ClickAck{ID: id, Link: link.Code}
	w.acks = append(w.acks, ack)
	if r.cfg.OnAck != nil {
		r.cfg.OnAck(ack, answered)
	}
	if c.bot {
		w.res.Bots++
		return
	}
	if r.cfg.ConversionShare <= 0 || rng.Float64() >= r.cfg.ConversionShare {
		return
	}
	now := time.Now()
	purchase := now.Add(-time.Duration(rng.Int64N(int64(max(r.cfg.Backdate, time.Second)))))
	o := PlanOrder(rng, r.cfg.Run, r.orderSeq.Add(1), r.partners[link.Partner], link, id, purchase, now, r.cfg.Mix)
	w.res.Orders++
	if rng.Float64() < r.cfg.Mix.BeforeClickReached {
		// Right after the 302, before the click has travelled through the
		// click log, Kafka and reporting's ingest.
		r.Ledger.AddClicks(w.acks)
		w.acks = w.acks[:0]
		r.deliverOrder(ctx, o, &w.ev)
		return
	}
	select {
	case orders <- o:
	default:
		dropped.Add(1) // never sent: not in the ledger
		w.res.Orders--
	}
}

// deliverOrder sends an order's events in its order, each retried until
// acknowledged or RetryFor passes.
func (r *Runner) deliverOrder(ctx context.Context, o Order, st *EventStats) {
	for _, i := range o.Sends {
		r.deliver(ctx, o.Events[i], st)
	}
}

func (r *Runner) deliver(ctx context.Context, e Event, st *EventStats) {
	p := r.partners[e.Partner]
	deadline := time.Now().Add(r.cfg.RetryFor)
	backoff := 50 * time.Millisecond
	unanswered := false
	for attempt := 0; ; attempt++ {
		st.Sent++
		if attempt > 0 {
			st.Retries++
		}
		start := time.Now()
		status, err := r.stack.Deliver(ctx, p, e)
		switch {
		case err == nil && status/100 == 2:
			st.Latency.Add(time.Since(start))
			st.Acked++
			if status == http.StatusOK {
				st.Replayed++
			}
			r.Ledger.Acked(e)
			return
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			st.Refused++ // a 4xx is final: nothing was stored
			if unanswered {
				r.Ledger.EventInDoubt(e)
			}
			return
		case err != nil:
			unanswered = true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			st.InDoubt++
			if unanswered {
				r.Ledger.EventInDoubt(e)
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
