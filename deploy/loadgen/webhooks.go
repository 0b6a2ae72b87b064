package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookLoad sends signed webhooks for one partner as fast as Concurrency
// workers can (Rate 0, closed loop) or at Rate per second (open loop: a
// delivery due while every worker is busy is counted as not sent).
type WebhookLoad struct {
	Stack       *Stack
	Partner     Partner
	URL         string // default: the stack's /v1/webhooks/{partner}
	RunID       string // prefixes order and event ids
	Rate        float64
	Concurrency int
	Duration    time.Duration
	// Ledger, when set, records every acknowledged event (they are
	// conversions like any other: reconciliation must find them).
	Ledger *Ledger
}

// WebhookResult sums up a webhook load.
type WebhookResult struct {
	Sent, Acked, NotSent, NoAnswer int64
	Statuses                       map[int]int64
	Latency                        Hist
	Elapsed                        time.Duration
}

// Rate is acknowledged deliveries per second.
func (r *WebhookResult) Rate() float64 { return float64(r.Acked) / r.Elapsed.Seconds() }

// Run sends the load.
func (wl WebhookLoad) Run(ctx context.Context) (*WebhookResult, error) {
	if wl.URL == "" {
		wl.URL = wl.Stack.Conversions + "/v1/webhooks/" + wl.Partner.ID
	}
	if err := CheckLoopback(wl.URL); err != nil {
		return nil, err
	}
	if wl.Concurrency <= 0 {
		wl.Concurrency = 64
	}
	client := &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: wl.Concurrency, MaxConnsPerHost: wl.Concurrency, DisableCompression: true}}
	defer client.CloseIdleConnections()
	stack := *wl.Stack
	stack.HTTP = client
	runCtx, cancel := context.WithTimeout(ctx, wl.Duration)
	defer cancel()

	var tokens chan struct{}
	var notSent atomic.Int64
	if wl.Rate > 0 {
		tokens = make(chan struct{}, wl.Concurrency)
		go func() {
			defer close(tokens)
			interval := time.Duration(float64(time.Second) / wl.Rate)
			start := time.Now()
			for n := 0; runCtx.Err() == nil; n++ {
				if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
					time.Sleep(d)
				}
				select {
				case tokens <- struct{}{}:
				default:
					notSent.Add(1)
				}
			}
		}()
	}
	var seq atomic.Int64
	results := make([]WebhookResult, wl.Concurrency)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range results {
		res := &results[i]
		res.Statuses = map[int]int64{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if tokens != nil {
					if _, ok := <-tokens; !ok || runCtx.Err() != nil {
						return
					}
				} else if runCtx.Err() != nil {
					return
				}
				n := seq.Add(1)
				now := time.Now().UTC().Truncate(time.Second)
				e := Event{ID: fmt.Sprintf("%s-w%d", wl.RunID, n), Partner: wl.Partner.ID, OrderID: fmt.Sprintf("%s-w%d", wl.RunID, n),
					ClickID: fmt.Sprintf("%s-noclick-%d", wl.RunID, n), CourseID: "course-00000", Status: "pending",
					Sale: 4900, Commission: 735, Currency: wl.Partner.Currency, OccurredAt: now}
				res.Sent++
				start := time.Now()
				status, err := stack.deliverTo(ctx, wl.URL, wl.Partner, e)
				if err != nil {
					res.NoAnswer++
					if wl.Ledger != nil {
						wl.Ledger.EventInDoubt(e)
					}
					continue
				}
				res.Statuses[status]++
				if status/100 == 2 {
					res.Acked++
					res.Latency.Add(time.Since(start))
					if wl.Ledger != nil {
						wl.Ledger.Acked(e)
					}
				}
			}
		}()
	}
	wg.Wait()
	out := &WebhookResult{Statuses: map[int]int64{}, Elapsed: time.Since(began), NotSent: notSent.Load()}
	for i := range results {
		r := &results[i]
		out.Sent += r.Sent
		out.Acked += r.Acked
		out.NoAnswer += r.NoAnswer
		for k, v := range r.Statuses {
			out.Statuses[k] += v
		}
		out.Latency.Merge(&r.Latency)
	}
	return out, nil
}
