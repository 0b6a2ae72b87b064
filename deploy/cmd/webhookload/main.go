// Command webhookload sends signed Standard Webhooks deliveries to a
// conversions service at a fixed rate (open loop: a slow server does not
// slow the sender down, so latency is measured honestly) and reports the
// achieved rate, status counts and latency percentiles.
//
//	webhookload -url http://127.0.0.1:8081/v1/webhooks/coursera -secret whsec_... -rate 3000 -duration 20s
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8081/v1/webhooks/coursera", "webhook URL")
	secret := flag.String("secret", "", "partner secret, whsec_...")
	rate := flag.Int("rate", 3000, "deliveries per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	workers := flag.Int("workers", 256, "most requests in flight")
	flag.Parse()
	// The measuring tool must not add its own GC pauses to the latencies.
	debug.SetGCPercent(400)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
	if err != nil || len(key) == 0 {
		fmt.Fprintln(os.Stderr, "webhookload: -secret must be whsec_<base64>")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers}, Timeout: 30 * time.Second}

	type result struct {
		status  int
		latency time.Duration
	}
	jobs := make(chan int, *workers)
	results := make(chan result, 1024)
	var wg sync.WaitGroup
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				id := fmt.Sprintf("load-%s-%d", run, n)
				body := fmt.Appendf(nil, `{"order_id":"ORD-%s-%d","click_id":"c","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"%s"}`,
					run, n, time.Now().UTC().Format(time.RFC3339))
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				m := hmac.New(sha256.New, key)
				m.Write([]byte(id + "." + ts + "."))
				m.Write(body)
				req, _ := http.NewRequest("POST", *target, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", ts)
				req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
				start := time.Now()
				resp, err := client.Do(req)
				st := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					st = resp.StatusCode
				}
				results <- result{st, time.Since(start)}
			}
		}()
	}
	var dropped atomic.Int64
	go func() {
		interval := time.Second / time.Duration(*rate)
		start := time.Now()
		for n := 0; time.Since(start) < *duration; n++ {
			if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
				time.Sleep(d)
			}
			select {
			case jobs <- n:
			default:
				dropped.Add(1) // every worker busy: the server is saturated
			}
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	began := time.Now()
	statuses := map[int]int{}
	var lat []time.Duration
	for r := range results {
		statuses[r.status]++
		lat = append(lat, r.latency)
	}
	elapsed := time.Since(began)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("sent %d in %.1fs: %.0f/s, statuses %v, not sent (all %d workers busy) %d\n",
		len(lat), elapsed.Seconds(), float64(len(lat))/elapsed.Seconds(), statuses, *workers, dropped.Load())
	fmt.Printf("latency p50 %v  p90 %v  p99 %v  max %v\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
}
