package redirect_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

// outcomes is a Service whose Click answers what the test queues.
type outcomes struct {
	redirect.Service
	next []struct {
		resp redirect.ClickResponse
		err  error
	}
}

func (o *outcomes) Click(context.Context, redirect.ClickRequest) (redirect.ClickResponse, error) {
	n := o.next[0]
	o.next = o.next[1:]
	return n.resp, n.err
}

// TestInstrumentCountsClicksByOutcome: the click counters (atomics
// observed on collection) export the series a counter's Add did: one per
// outcome (rate limits by limit) and one per bot reason, none before the
// first click of its kind.
func TestInstrumentCountsClicksByOutcome(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	fake := &outcomes{}
	svc, err := redirect.Instrument(fake, meter)
	if err != nil {
		t.Fatal(err)
	}
	type answer = struct {
		resp redirect.ClickResponse
		err  error
	}
	fake.next = []answer{
		{redirect.ClickResponse{Recorded: true}, nil},
		{redirect.ClickResponse{Recorded: true, Bot: true, BotReason: botcheck.Crawler}, nil},
		{redirect.ClickResponse{Recorded: true, Bot: true, BotReason: botcheck.Crawler}, nil},
		{redirect.ClickResponse{}, redirect.ErrLinkNotFound},
		{redirect.ClickResponse{}, redirect.ErrRateLimited},
		{redirect.ClickResponse{}, redirect.ErrNetworkRateLimited},
		{redirect.ClickResponse{}, redirect.ErrClickNotRecorded},
		{redirect.ClickResponse{Excluded: true}, nil},
		{redirect.ClickResponse{}, nil}, // HEAD
	}
	for i := range len(fake.next) {
		svc.Click(context.Background(), redirect.ClickRequest{Head: i == 8})
	}
	got := testkit.Counters(t, reader)
	want := map[string]map[string]int64{
		"redirect.clicks": {
			"outcome=recorded;": 3, "outcome=not_found;": 1, "limit=visitor;outcome=rate_limited;": 1,
			"limit=network;outcome=rate_limited;": 1, "outcome=not_recorded;": 1, "outcome=excluded;": 1, "outcome=head;": 1,
		},
		"redirect.bot_verdicts": {"reason=crawler;": 2},
	}
	for name, series := range want {
		if len(got[name]) != len(series) {
			t.Errorf("%s: series %v, want %v", name, got[name], series)
		}
		for k, v := range series {
			if got[name][k] != v {
				t.Errorf("%s{%s} = %d, want %d", name, k, got[name][k], v)
			}
		}
	}
}
