package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookLoad sends signed webhooks for one partner as fast as Concurrency
// workers can (Rate 0, closed loop) or at Rate per second (open loop: a
// delivery that falls due while every worker is busy waits its turn, and
// its latency counts from when it fell due).
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
	// NotSent counts, at a rate, the deliveries that fell due in the run
	// and were not sent by its end.
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
	u, err := url.Parse(wl.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook URL: %w", err)
	}
	key, err := webhookKey(wl.Partner.Secret)
	if err != nil {
		return nil, err
	}
	head := webhookRequestHead(u)
	began := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, began.Add(wl.Duration)) // a Duration of 0 sends nothing, as before
	defer cancel()

	// At a rate, deliveries fall due on a fixed schedule and their
	// latencies count from when they fell due (duePacer).
	pacer, stop := pace(runCtx, began, wl.Rate, 0)
	defer stop()
	var seq atomic.Int64
	results := make([]WebhookResult, wl.Concurrency)
	var wg sync.WaitGroup
	for i := range results {
		res := &results[i]
		res.Statuses = map[int]int64{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker its own connection, kept alive, and its own
			// signer: the load tool's CPU a delivery is taken from the
			// stack on a 2-core machine.
			conn := &rawConn{addr: u.Host, dialer: &net.Dialer{Timeout: 5 * time.Second}, noStamps: true, timeout: 30 * time.Second}
			defer conn.close()
			sign := signerFor(key)
			var req []byte
			for {
				due, ok := pacer.next(runCtx)
				if !ok {
					return
				}
				n := seq.Add(1)
				now := time.Now().UTC().Truncate(time.Second)
				e := Event{ID: fmt.Sprintf("%s-w%d", wl.RunID, n), Partner: wl.Partner.ID, OrderID: fmt.Sprintf("%s-w%d", wl.RunID, n),
					ClickID: fmt.Sprintf("%s-noclick-%d", wl.RunID, n), CourseID: "course-00000", Status: "pending",
					Sale: 4900, Commission: 735, Currency: wl.Partner.Currency, OccurredAt: now}
				res.Sent++
				start := startOf(due)
				req = appendWebhookRequest(append(req[:0], head...), sign, e.ID, time.Now().Unix(), e.WebhookBody())
				a, err := conn.roundTrip(req, false)
				status := a.status
				if err != nil {
					res.NoAnswer++
					if wl.Ledger != nil && wasSent(err) {
						wl.Ledger.EventInDoubt(e)
					}
					pause(runCtx, errorPause)
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
	end := time.Now()
	out := &WebhookResult{Statuses: map[int]int64{}, Elapsed: end.Sub(began)}
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
	out.NotSent = pacer.notSent(end, out.Sent)
	return out, nil
}

// webhookRequestHead is the start of every delivery's request to u: the
// request line and the headers that do not change.
func webhookRequestHead(u *url.URL) []byte {
	return []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n")
}

// appendWebhookRequest appends to dst, which holds webhookRequestHead, the
// rest of a Standard Webhooks delivery of body signed at timestamp: its
// own headers and the body, for a kept-alive HTTP/1.1 connection.
func appendWebhookRequest(dst []byte, sign *webhookSigner, id string, timestamp int64, body []byte) []byte {
	dst = append(dst, "Webhook-Id: "...)
	dst = append(dst, id...)
	dst = append(dst, "\r\nWebhook-Timestamp: "...)
	dst = strconv.AppendInt(dst, timestamp, 10)
	dst = append(dst, "\r\nWebhook-Signature: "...)
	dst = sign.appendSignature(dst, id, timestamp, body)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}
