package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// deadLetters reads topic's dead-letter twin from its start until it
// holds n messages and returns each one's dlq-code by message id.
func (s *stack) deadLetters(t *testing.T, topic string, n int) map[string]string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: events.DeadLetterTopic(topic), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	codes := map[string]string{}
	testkit.WaitFor(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		for len(codes) < n {
			msg, err := r.ReadMessage(ctx)
			if err != nil {
				return fmt.Errorf("%d of %d dead letters on %s.dlq (%v): %v", len(codes), n, topic, err, codes)
			}
			id := string(msg.Value)
			if i := bytes.Index(msg.Value, []byte(`"id":"`)); i >= 0 {
				id, _, _ = strings.Cut(string(msg.Value[i+6:]), `"`)
			}
			for _, h := range msg.Headers {
				if h.Key == "dlq-code" {
					codes[id] = string(h.Value)
				}
			}
		}
		return nil
	})
	return codes
}

// normal publishes an ordinary click on link code and a sale of it, and
// waits until the report has both: the ledger is moving.
func (s *stack) normal(t *testing.T, code string) {
	t.Helper()
	s.publish(t, events.TopicClicks, s.click("k-"+code, code, "ml-101", 9*time.Hour, false, true))
	s.publish(t, events.TopicConversions, s.conv("e-"+code, "O-"+code, "k-"+code, "", "approved", "49.00", "7.35", 10*time.Hour))
	s.waitFor(t, s.month()+"&group_by=link", func(r reportJSON) error {
		for _, row := range r.Rows {
			if row["link"] == code {
				return want(row, map[string]any{"clicks": 1, "conversions": 1, "commission_approved": "7.35"})
			}
		}
		return errors.New("no row for " + code + " yet")
	})
}

// Nothing a visitor or partner sends stops the ledger or overflows it.
// Each hostile value is published as a forged producer would, straight
// to the topic, and then an ordinary click and sale: those reach the
// report, the hostile value is on the dead-letter topic (or counted as
// "other"), and at the end `reporting verify` passes and a replay
// rebuilds the same reports.
func TestHostileValuesNeverStopTheLedger(t *testing.T) {
	t.Parallel()
	s := setup(t, testkit.Now(t))
	h := time.Hour

	t.Run("8 KB placement", func(t *testing.T) {
		c := s.click("hostile-placement", "ml-101", "ml-101", h, false, true)
		c.Placement = strings.Repeat("p", 8192)
		s.publish(t, events.TopicClicks, c)
		s.normal(t, "after-placement")
	})

	t.Run("binary user agent", func(t *testing.T) {
		long := s.click("hostile-ua", "ml-101", "ml-101", h, false, true)
		long.UserAgent = strings.Repeat("\xff", 31<<10) // 93 KB once each byte is U+FFFD
		short := s.click("binary-ua", "binary-ua", "ml-101", h, false, true)
		short.UserAgent = strings.Repeat("\xff", 100) // within the limit, and never stored
		s.publish(t, events.TopicClicks, long, short)
		s.normal(t, "after-ua")
	})

	t.Run("near-int64 commission", func(t *testing.T) {
		s.publish(t, events.TopicConversions,
			s.conv("hostile-money", "O-hostile", "", "", "approved", "92233720368547758.07", "92233720368547758.07", h))
		s.normal(t, "after-money")
	})

	t.Run("a value only Postgres refuses", func(t *testing.T) {
		// Within every schema limit, but no Postgres text holds a NUL: the
		// batch is halved until the click is alone, the rest is applied.
		bad := s.click("hostile-nul", "nul-batch", "ml\x00101", h, false, true)
		s.publish(t, events.TopicClicks, s.click("nul-1", "nul-batch", "ml-101", h, false, true),
			s.click("nul-2", "nul-batch", "ml-101", h, false, true), bad, s.click("nul-3", "nul-batch", "ml-101", h, false, true))
		s.normal(t, "after-nul")
		s.waitFor(t, s.month()+"&group_by=link", func(r reportJSON) error {
			for _, row := range r.Rows {
				if row["link"] == "nul-batch" {
					return want(row, map[string]any{"clicks": 3})
				}
			}
			return errors.New("no row for nul-batch")
		})
	})

	t.Run("many distinct placements", func(t *testing.T) {
		const distinct = postgres.MaxPlacements + 70
		var clicks []any
		for i := range distinct {
			c := s.click(fmt.Sprintf("busy-%03d", i), "busy", "ml-101", h+time.Duration(i)*time.Second, false, true)
			c.Placement = fmt.Sprintf("rnd%03d", i)
			clicks = append(clicks, c)
		}
		s.publish(t, events.TopicClicks, clicks...)
		s.normal(t, "after-placements")
		s.waitFor(t, s.month()+"&group_by=link,placement", func(r reportJSON) error {
			named, total := 0, 0
			for _, row := range r.Rows {
				if row["link"] != "busy" {
					continue
				}
				var n int
				fmt.Sscan(fmt.Sprint(row["clicks"]), &n)
				total += n
				if row["placement"] == "other" {
					continue
				}
				named++
			}
			if named != postgres.MaxPlacements || total != distinct {
				return fmt.Errorf("busy link: %d named placements, %d clicks; want %d and %d", named, total, postgres.MaxPlacements, distinct)
			}
			return nil
		})
	})

	t.Run("commission at the ceiling, summed beyond int64", func(t *testing.T) {
		// 20 conversions at events.MaxAmountMinor (10,000,000,000.00 USD):
		// 2 x 10^13 cents, which at a rate of 10^6 IDR per USD is 2 x 10^19
		// IDR cents, more than an int64 holds.
		const n = 20
		var convs []any
		for i := range n {
			convs = append(convs, s.conv(fmt.Sprintf("max-%d", i), fmt.Sprintf("MAX-%d", i), "", "max-course", "approved",
				"10000000000.00", "10000000000.00", h))
		}
		s.publish(t, events.TopicConversions, convs...)
		s.normal(t, "after-ceiling")
		first := monthOf(s.day).Format(time.DateOnly)
		if r := s.do(t, "PUT", "/v1/fx-rates", "date,base,quote,rate\n"+first+",USD,IDR,1000000\n", "Content-Type", "text/csv"); r.status != 200 {
			t.Fatalf("PUT rates = %d %s", r.status, r.body)
		}
		approved := new(big.Int).Mul(big.NewInt(n*events.MaxAmountMinor), big.NewInt(1e6))
		approved.Add(approved, big.NewInt(6*735*1e6)) // the six ordinary sales so far, at 7.35
		wantIDR := new(big.Int).Quo(approved, big.NewInt(100)).String() + ".00"
		// Wait for every conversion to be in, not just for a row.
		rep := s.waitFor(t, s.month()+"&currency=IDR", oneRow(map[string]any{"currency": "IDR", "commission_approved": wantIDR}))
		if got := fmt.Sprint(rep.Rows[0]["commission_approved"]); got != wantIDR {
			t.Fatalf("approved in IDR = %s, want %s (exact, beyond int64)", got, wantIDR)
		}
		r := s.do(t, "GET", "/v1/reports/commissions?"+s.month()+"&currency=IDR&format=csv", "")
		if r.status != 200 || !strings.Contains(r.body, wantIDR) {
			t.Fatalf("csv = %d %s", r.status, r.body)
		}
		d := s.do(t, "GET", "/?"+s.month()+"&currency=IDR", "", "Accept", "text/html")
		if d.status != 200 || !strings.Contains(d.body, "200,000,000,044,100,000.00 IDR") {
			t.Fatalf("dashboard = %d %.500s", d.status, d.body)
		}
		st := s.do(t, "GET", "/v1/payouts/statements/coursera?month="+s.day.Format("2006-01"), "")
		if st.status != 200 || !strings.Contains(st.body, `"approved":"200000000`) {
			t.Fatalf("statement = %d %s", st.status, st.body)
		}
	})

	t.Run("dead letters", func(t *testing.T) {
		clicks := s.deadLetters(t, events.TopicClicks, 3)
		for id, code := range map[string]string{"hostile-placement": "invalid_tag", "hostile-ua": "field_too_long",
			"hostile-nul": "database_refused_data"} {
			if clicks[id] != code {
				t.Errorf("click %s: dlq-code %q, want %q (all: %v)", id, clicks[id], code, clicks)
			}
		}
		if convs := s.deadLetters(t, events.TopicConversions, 1); convs["hostile-money"] != "amount_too_large" {
			t.Errorf("conversion dead letters: %v", convs)
		}
	})

	now := clock.Fixed(s.at)
	getenv := func(k string) string { return s.env[k] }
	var out bytes.Buffer
	if err := run(context.Background(), now, []string{"verify"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), now, []string{"replay", "-schema", "reporting_rebuild"}, getenv, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "identical to the live schema: true") {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	// What replay rebuilds from is said, not a missing relation: the live
	// schema as the target, or a database without it (a finance review
	// replayed into an empty database and got placement_slots missing).
	if err := run(context.Background(), now, []string{"replay", "-schema", "reporting"}, getenv, &out, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "is the live schema") {
		t.Errorf("replay into the live schema: %v", err)
	}
	empty := testkit.DatabaseURL(t)
	elsewhere := func(k string) string {
		if k == "DATABASE_URL" {
			return empty
		}
		return getenv(k)
	}
	if err := run(context.Background(), now, []string{"replay"}, elsewhere, &out, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "holds no schema reporting to replay from") {
		t.Errorf("replay in a database without the live schema: %v", err)
	}
}
