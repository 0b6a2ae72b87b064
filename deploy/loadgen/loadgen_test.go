package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clickid"
)

// The example of the Standard Webhooks specification.
func TestSignMatchesTheStandardWebhooksExample(t *testing.T) {
	sig, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	if _, err := Sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "x", 1, nil); err == nil {
		t.Error("a secret without whsec_ was accepted")
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8080", "http://127.0.0.1:8081/v1/webhooks/x", "localhost:1", "[::1]:80", "http://127.3.4.5:9"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:8080", "http://example.com/", "0.0.0.0:80", "http://169.254.169.254/", "example.com:80", "http://127.0.0.1.nip.io/"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := NewStack("127.0.0.1:1", "192.168.1.1:2", "127.0.0.1:3", "t"); err == nil {
		t.Error("NewStack took a non-loopback address")
	}
}

func TestPlanOrderFollowsTheMix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := Partner{ID: "p", Currency: "USD", Secret: NewSecret(), Token: "t"}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	counts := map[string]int{}
	const n = 20000
	for i := range n {
		purchase := now.Add(-time.Duration(rng.IntN(30*24)) * time.Hour)
		o := PlanOrder(rng, "r", int64(i), p, Link{Code: "c", CourseID: "course"}, "CLICK", purchase, now, DefaultMix)
		first := o.Events[0]
		if first.Status != "pending" || first.OccurredAt != purchase.Truncate(time.Second) || first.Sale <= 0 ||
			first.Commission <= 0 || first.Commission > first.Sale {
			t.Fatalf("first event %+v", first)
		}
		counts[first.Currency]++
		if first.Postback {
			counts["postback"]++
		}
		if len(o.Events) == 2 {
			later := o.Events[1]
			counts[later.Status]++
			if !later.OccurredAt.After(first.OccurredAt) || later.OccurredAt.After(now.Add(time.Second)) {
				t.Fatalf("later event at %s for a purchase at %s (now %s)", later.OccurredAt, first.OccurredAt, now)
			}
			if later.ID == first.ID || later.OrderID != first.OrderID || later.Sale != first.Sale || later.Currency != first.Currency {
				t.Fatalf("events of one order differ: %+v %+v", first, later)
			}
			if o.Sends[0] == 1 {
				counts["out_of_order"]++
			}
		}
		if len(o.Sends) > len(o.Events) {
			counts["duplicate"]++
		}
	}
	near := func(name string, got int, share float64) {
		if want := share * n; float64(got) < want*0.85 || float64(got) > want*1.15 {
			t.Errorf("%s: %d of %d, want about %.0f", name, got, n, want)
		}
	}
	near("approved", counts["approved"], DefaultMix.Approve)
	near("reversed", counts["reversed"], DefaultMix.Reverse)
	near("EUR", counts["EUR"], DefaultMix.EUR)
	near("postback", counts["postback"], DefaultMix.Postback)
	near("duplicate", counts["duplicate"], DefaultMix.Duplicate)
	near("out of order", counts["out_of_order"], DefaultMix.OutOfOrder*(DefaultMix.Approve+DefaultMix.Reverse))
	// An adapter partner always posts back, in its own parameter names.
	impact := Partner{ID: "u", Currency: "USD", Token: "tok", Adapter: "impact"}
	o := PlanOrder(rng, "r", 1, impact, Link{CourseID: "c"}, "CLICK", now, now, DefaultMix)
	q := o.Events[0].PostbackQuery(impact)
	if !o.Events[0].Postback || q.Get("action_id") != "r-o1" || q.Get("subid1") != "CLICK" || q.Get("status") != "PENDING" || q.Get("token") != "tok" {
		t.Errorf("impact postback %v", q)
	}
}

func TestEventEncodings(t *testing.T) {
	e := Event{ID: "e1", Partner: "p", OrderID: "o1", ClickID: "c1", CourseID: "ml", Status: "approved", Sale: 4900,
		Commission: 735, Currency: "EUR", OccurredAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	var body map[string]string
	if err := json.Unmarshal(e.WebhookBody(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"order_id": "o1", "click_id": "c1", "course_id": "ml", "status": "approved",
		"sale_amount": "49.00", "commission": "7.35", "currency": "EUR", "occurred_at": "2026-11-20T10:00:00Z"}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body %v, want %v", body, want)
	}
	q := e.PostbackQuery(Partner{Token: "tok"})
	if q.Get("event_id") != "e1" || q.Get("sale_amount") != "49.00" || q.Get("commission") != "7.35" || q.Get("token") != "tok" {
		t.Errorf("postback %v", q)
	}
}

func TestFoldTakesTheLatestStatusAndTheFirstDay(t *testing.T) {
	d1 := time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)
	pending := Event{Partner: "p", OrderID: "o", Status: "pending", Sale: 1000, Commission: 100, Currency: "USD", OccurredAt: d1}
	reversed := pending
	reversed.Status, reversed.OccurredAt = "reversed", d1.Add(2*time.Second)
	// Sent reversed first, then pending: the fold follows occurred_at.
	k, tot := Fold([]Event{reversed, pending})
	if k != (ConvKey{"p", "2026-11-30", "USD"}) || tot != (ConvTotals{Conversions: 1, Reversed: 100}) {
		t.Errorf("fold = %v %+v", k, tot)
	}
	approved := reversed
	approved.Status = "approved"
	if _, tot := Fold([]Event{approved, pending}); tot != (ConvTotals{Conversions: 1, Sale: 1000, Approved: 100}) {
		t.Errorf("approved fold = %+v", tot)
	}
	if _, tot := Fold([]Event{pending}); tot != (ConvTotals{Conversions: 1, Sale: 1000, Pending: 100}) {
		t.Errorf("pending fold = %+v", tot)
	}
}

func newSigner(t *testing.T) *clickid.Signer {
	s, err := clickid.NewSigner([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clickAt(s *clickid.Signer, at time.Time) string { return string(s.Append(nil, at)) }

func TestExpectedAndCompare(t *testing.T) {
	s := newSigner(t)
	day1 := time.Date(2026, 11, 30, 23, 59, 59, 500e6, time.UTC)
	day2 := day1.Add(time.Second)
	l := NewLedger()
	l.AddPartner("p")
	l.AddLink("a")
	l.AddLink("b")
	l.AddClicks([]ClickAck{{clickAt(s, day1), "a"}, {clickAt(s, day1), "a"}, {clickAt(s, day2), "a"}, {clickAt(s, day2), "b"}})
	dup := clickAt(s, day2)
	l.AddClicks([]ClickAck{{dup, "b"}})
	ev := Event{ID: "e1", Partner: "p", OrderID: "o1", Status: "pending", Sale: 1000, Commission: 100, Currency: "USD", OccurredAt: day1}
	l.Acked(ev)
	ev2 := ev
	ev2.ID, ev2.Status, ev2.OccurredAt = "e2", "approved", day2
	l.Acked(ev2)
	l.Acked(ev2) // a replay acknowledged again is the same event
	eur := Event{ID: "e3", Partner: "p", OrderID: "o2", Status: "pending", Sale: 500, Commission: 50, Currency: "EUR", OccurredAt: day2}
	l.Acked(eur)

	x := l.Expected()
	if x.From != time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) || x.To.Before(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("range %s..%s", x.From, x.To)
	}
	wantClicks := map[ClickKey]int64{{"a", "2026-11-30"}: 2, {"a", "2026-12-01"}: 1, {"b", "2026-12-01"}: 2}
	if fmt.Sprint(x.Clicks) != fmt.Sprint(wantClicks) {
		t.Errorf("clicks %v, want %v", x.Clicks, wantClicks)
	}
	wantConv := map[ConvKey]ConvTotals{{"p", "2026-11-30", "USD"}: {Conversions: 1, Sale: 1000, Approved: 100},
		{"p", "2026-12-01", "EUR"}: {Conversions: 1, Sale: 500, Pending: 50}}
	if fmt.Sprint(x.Conversions) != fmt.Sprint(wantConv) {
		t.Errorf("conversions %v, want %v", x.Conversions, wantConv)
	}

	exact := Observed{Clicks: map[ClickKey]int64{}, Conversions: map[ConvKey]ConvTotals{}}
	for k, v := range wantClicks {
		exact.Clicks[k] = v
	}
	for k, v := range wantConv {
		exact.Conversions[k] = v
	}
	if v := Compare(x, exact); !v.OK() || v.Clicks != 5 || v.Conversions != 2 {
		t.Errorf("exact reports: %s", v)
	}

	cases := map[string]func(o *Observed){
		"a click missing": func(o *Observed) { o.Clicks[ClickKey{"a", "2026-11-30"}] = 1 },
		"a click twice":   func(o *Observed) { o.Clicks[ClickKey{"b", "2026-12-01"}] = 3 },
		"a click on the wrong day": func(o *Observed) {
			o.Clicks[ClickKey{"a", "2026-11-30"}] = 1
			o.Clicks[ClickKey{"a", "2026-12-01"}] = 2
		},
		"a conversion not ours": func(o *Observed) { o.Conversions[ConvKey{"p", "2026-12-01", "USD"}] = ConvTotals{Conversions: 1} },
		"wrong status": func(o *Observed) {
			o.Conversions[ConvKey{"p", "2026-11-30", "USD"}] = ConvTotals{Conversions: 1, Sale: 1000, Pending: 100}
		},
		"a conversion counted twice": func(o *Observed) {
			o.Conversions[ConvKey{"p", "2026-12-01", "EUR"}] = ConvTotals{Conversions: 2, Sale: 500, Pending: 50}
		},
		"a paid amount from nowhere": func(o *Observed) {
			o.Conversions[ConvKey{"p", "2026-12-01", "EUR"}] = ConvTotals{Conversions: 1, Sale: 500, Pending: 50, Paid: 1}
		},
		"rows that disagree": func(o *Observed) { o.Inconsistent = []string{"clicks a: 1 on one row, 2 on another"} },
		// The checker's own cells: a click on another link the same day
		// keeps every total (a mutation of Compare that summed links
		// passed the chaos test).
		"a click moved to another link": func(o *Observed) {
			o.Clicks[ClickKey{"a", "2026-12-01"}] = 0
			o.Clicks[ClickKey{"b", "2026-12-01"}] = 3
		},
	}
	for name, change := range cases {
		o := Observed{Clicks: map[ClickKey]int64{}, Conversions: map[ConvKey]ConvTotals{}}
		for k, v := range exact.Clicks {
			o.Clicks[k] = v
		}
		for k, v := range exact.Conversions {
			o.Conversions[k] = v
		}
		change(&o)
		if v := Compare(x, o); v.OK() {
			t.Errorf("%s: reconciled", name)
		}
	}

	// A click whose answer never came may be there: explained, not failed.
	l.ClickInDoubt("b")
	x = l.Expected()
	o := exact
	o.Clicks = map[ClickKey]int64{}
	for k, v := range exact.Clicks {
		o.Clicks[k] = v
	}
	o.Clicks[ClickKey{"b", "2026-12-01"}] = 3
	if v := Compare(x, o); !v.OK() || len(v.Explained) != 1 {
		t.Errorf("in-doubt click: %s", v)
	}
	o.Clicks[ClickKey{"b", "2026-12-01"}] = 4
	if v := Compare(x, o); v.OK() {
		t.Errorf("two extra clicks for one in doubt reconciled: %s", v)
	}
	// The redirect acknowledging one click id twice is a failure.
	l.AddClicks([]ClickAck{{dup, "b"}})
	if v := Compare(l.Expected(), exact); v.OK() {
		t.Error("a click id acknowledged twice reconciled")
	}
}

// Conversions are checked by the link they are credited to, not only by
// partner and day: one credited to another click of the partner keeps
// every partner total (a mutation of reporting's attribution passed
// every system test). An order with an unanswered event explains a
// difference only within what the stack could have made of it.
func TestCompareConversionsByLinkAndWithinDoubt(t *testing.T) {
	s := newSigner(t)
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := NewLedger()
	l.AddPartner("p")
	l.AddLink("a")
	l.AddLink("b")
	ca, cb := clickAt(s, day), clickAt(s, day.Add(time.Second))
	l.AddClicks([]ClickAck{{ca, "a"}, {cb, "b"}})
	pending := Event{ID: "e1", Partner: "p", OrderID: "o1", ClickID: ca, Status: "pending", Sale: 1000, Commission: 100,
		Currency: "USD", OccurredAt: day.Add(time.Minute)}
	l.Acked(pending)
	other := Event{ID: "e2", Partner: "p", OrderID: "o2", ClickID: cb, Status: "approved", Sale: 500, Commission: 50,
		Currency: "USD", OccurredAt: day.Add(2 * time.Minute)}
	l.Acked(other)
	x := l.Expected()
	exact := func() Observed {
		return Observed{
			Clicks:      map[ClickKey]int64{{"a", "2026-12-01"}: 1, {"b", "2026-12-01"}: 1},
			Conversions: map[ConvKey]ConvTotals{{"p", "2026-12-01", "USD"}: {Conversions: 2, Sale: 1500, Pending: 100, Approved: 50}},
			LinkConversions: map[LinkConvKey]ConvTotals{{"a", "USD"}: {Conversions: 1, Sale: 1000, Pending: 100},
				{"b", "USD"}: {Conversions: 1, Sale: 500, Approved: 50}},
		}
	}
	if v := Compare(x, exact()); !v.OK() || v.LinkConversionCells != 2 {
		t.Fatalf("exact: %s", v)
	}
	swapped := exact()
	swapped.LinkConversions = map[LinkConvKey]ConvTotals{{"b", "USD"}: {Conversions: 2, Sale: 1500, Pending: 100, Approved: 50}}
	if v := Compare(x, swapped); v.OK() {
		t.Errorf("a conversion credited to another link reconciled: %s", v)
	}

	// o1's approval got no answer: the stack kept it or not.
	approval := pending
	approval.ID, approval.Status, approval.OccurredAt = "e3", "approved", day.Add(time.Hour)
	l.EventInDoubt(approval)
	x = l.Expected()
	kept := exact()
	kept.Conversions[ConvKey{"p", "2026-12-01", "USD"}] = ConvTotals{Conversions: 2, Sale: 1500, Approved: 150}
	kept.LinkConversions[LinkConvKey{"a", "USD"}] = ConvTotals{Conversions: 1, Sale: 1000, Approved: 100}
	for name, o := range map[string]Observed{"not kept": exact(), "kept": kept} {
		if v := Compare(x, o); !v.OK() {
			t.Errorf("%s: %s", name, v)
		}
	}
	far := kept
	far.Conversions = map[ConvKey]ConvTotals{{"p", "2026-12-01", "USD"}: {Conversions: 40, Sale: 1500, Approved: 150}}
	if v := Compare(x, far); v.OK() {
		t.Errorf("40 conversions for 2 acknowledged and one unanswered event reconciled: %s", v)
	}
	double := kept
	double.LinkConversions = map[LinkConvKey]ConvTotals{{"a", "USD"}: {Conversions: 1, Sale: 1000, Approved: 200},
		{"b", "USD"}: {Conversions: 1, Sale: 500, Approved: 50}}
	if v := Compare(x, double); v.OK() {
		t.Errorf("an approval counted twice for one unanswered event reconciled: %s", v)
	}
}

// fakeStack is a stack on loopback that redirects, accepts conversions and
// reports exactly what it was sent, so a Runner's whole loop is checked.
type fakeStack struct {
	signer              *clickid.Signer
	clicks, heads, bots atomic.Int64
	events              atomic.Int64
	badSig              atomic.Int64
}

func (f *fakeStack) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/c/{code}", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			f.heads.Add(1)
			w.WriteHeader(http.StatusFound)
			return
		}
		ua := r.UserAgent()
		if strings.Contains(strings.ToLower(ua), "bot") || strings.Contains(ua, "facebookexternalhit") || strings.Contains(ua, "WhatsApp") {
			f.bots.Add(1)
		}
		f.clicks.Add(1)
		w.Header().Set("X-Click-Id", f.signer.New())
		w.Header().Set("Location", "https://example.com/")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("POST /v1/webhooks/{partner}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-id") == "" || !strings.HasPrefix(r.Header.Get("webhook-signature"), "v1,") {
			f.badSig.Add(1)
		}
		f.events.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /v1/postback/{partner}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") == "" {
			f.badSig.Add(1)
		}
		f.events.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})
	return mux
}

// startFakeStack serves a fakeStack, through wrap when it is not nil,
// until the test ends.
func startFakeStack(t *testing.T, wrap func(http.Handler) http.Handler) (*fakeStack, *Stack) {
	t.Helper()
	f := &fakeStack{signer: newSigner(t)}
	h := f.handler(t)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	stack, err := NewStack(srv.URL, srv.URL, srv.URL, "token")
	if err != nil {
		t.Fatal(err)
	}
	return f, stack
}

func TestRunnerRecordsWhatWasAcknowledged(t *testing.T) {
	f, stack := startFakeStack(t, nil)
	r := NewRunner(stack, Config{Run: "t1", Links: 200, MaxClicks: 3000, Concurrency: 8, UserAgents: 500,
		Crawlers: 0.05, Unfurlers: 0.05, Heads: 0.05, ConversionShare: 0.2, Seed: 7})
	res := r.Clicks(context.Background())
	clicks, events, inDoubtClicks, inDoubtEvents := r.Ledger.Counts()
	if res.Sent != 3000 || res.Acked+res.Heads != 3000 || int64(clicks) != res.Acked || res.Acked != f.clicks.Load() || res.Heads != f.heads.Load() {
		t.Fatalf("sent %d, acked %d, heads %d, ledger %d; server saw %d clicks and %d HEAD", res.Sent, res.Acked, res.Heads, clicks, f.clicks.Load(), f.heads.Load())
	}
	if res.Heads < 100 || res.Bots < 200 || res.Bots != f.bots.Load() {
		t.Errorf("heads %d, bots %d (server saw %d bots)", res.Heads, res.Bots, f.bots.Load())
	}
	if int64(events) == 0 || res.Events.Acked != f.events.Load() || f.badSig.Load() != 0 || inDoubtClicks != 0 || inDoubtEvents != 0 {
		t.Errorf("events: ledger %d, acked %d, server %d, unsigned %d, in doubt %d/%d", events, res.Events.Acked, f.events.Load(), f.badSig.Load(), inDoubtClicks, inDoubtEvents)
	}
	if res.Orders < 400 || res.Orders > 700 {
		t.Errorf("%d orders for about 540 human clicks at 20 %%", res.Orders)
	}
	x := r.Ledger.Expected()
	var total int64
	for _, n := range x.Clicks {
		total += n
	}
	if total != res.Acked || len(x.Partners) != 3 || len(x.Links) != 200 {
		t.Errorf("expected %d clicks over %d partners and %d links", total, len(x.Partners), len(x.Links))
	}
}

func TestObserveCountsCurrencyRowsOnce(t *testing.T) {
	rows := `{"meta":{},"rows":[
 {"link":"a","day":"2026-12-01","currency":"EUR","clicks":5,"bot_clicks":1,"conversions":1},
 {"link":"a","day":"2026-12-01","currency":"USD","clicks":5,"bot_clicks":1,"conversions":2},
 {"link":"zz","day":"2026-12-01","currency":"USD","clicks":9,"bot_clicks":0},
 {"partner":"p","day":"2026-12-01","currency":"USD","clicks":6,"conversions":2,"sale_amount":"10.00","commission_pending":"1.00","commission_approved":"0.50","commission_reversed":"0.00","commission_paid":"0.00"},
 {"partner":"p","day":"2026-12-02","currency":"","clicks":3,"conversions":0,"sale_amount":"0","commission_pending":"0","commission_approved":"0","commission_reversed":"0","commission_paid":"0"},
 {"partner":"other","day":"2026-12-01","currency":"USD","conversions":7}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(rows))
	}))
	defer srv.Close()
	stack, _ := NewStack(srv.URL, srv.URL, srv.URL, "t")
	x := Expected{Partners: map[string]bool{"p": true}, Links: map[string]bool{"a": true},
		From: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	o, err := Observe(context.Background(), stack, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Clicks) != 1 || o.Clicks[ClickKey{"a", "2026-12-01"}] != 6 || len(o.Inconsistent) != 0 {
		t.Errorf("clicks %v %v", o.Clicks, o.Inconsistent)
	}
	if got := o.Conversions[ConvKey{"p", "2026-12-01", "USD"}]; len(o.Conversions) != 1 || got != (ConvTotals{Conversions: 2, Sale: 1000, Pending: 100, Approved: 50}) {
		t.Errorf("conversions %v", o.Conversions)
	}
}

func TestHistQuantiles(t *testing.T) {
	var h Hist
	for i := 1; i <= 1000; i++ {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		got := h.Quantile(q)
		if got < want*96/100 || got > want*101/100 {
			t.Errorf("q%.2f = %s, want about %s", q, got, want)
		}
	}
	if h.Quantile(1) != time.Second || h.Count() != 1000 {
		t.Errorf("max %s count %d", h.Quantile(1), h.Count())
	}
	var other Hist
	other.Add(time.Microsecond)
	other.Merge(&h)
	if other.Count() != 1001 || other.Quantile(0) != time.Microsecond {
		t.Errorf("merged: count %d min %s", other.Count(), other.Quantile(0))
	}
}
