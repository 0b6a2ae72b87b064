package main

// The harness: the test binary re-executed as the redirect process, and
// the HTTP and Kafka helpers the tests in main_test.go drive it with.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// The test binary doubles as the redirect binary, so tests can run it as a
// real process and SIGKILL it. This hook, and the frozen clock it may run
// the service on (testkit.ChildClock reads LINKCREDIT_TEST_NOW), exist
// only in the test binary: the redirect binary's main always runs on the
// system clock, whatever its environment says.
func TestMain(m *testing.M) {
	if os.Getenv("LINKCREDIT_RUN_REDIRECT") == "1" {
		os.Exit(realMain(testkit.ChildClock()))
	}
	os.Exit(m.Run())
}

const (
	adminToken = "test-admin-token-0123456789abcdefghij"
	clickKey   = "test-click-id-key-0123456789"
)

type env map[string]string

func baseEnv(t *testing.T, dbURL string, b *testkit.Broker) env {
	return env{
		"DATABASE_URL": dbURL, "KAFKA_BROKERS": b.Addr, "ADMIN_TOKEN": adminToken,
		"CLICK_ID_KEYS": clickKey, "CLICKLOG_DIR": t.TempDir(),
		"RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_IP_PER_MINUTE": "1000000", "LOG_LEVEL": "warn",
	}
}

// start runs the service as a process serving on ln, on the system clock.
// Starting again with the same ln restarts it on the same address.
func start(t *testing.T, ln *net.TCPListener, e env) *testkit.Process {
	t.Helper()
	return startAt(t, ln, e, time.Time{})
}

// startAt is start with the process's clock frozen at at (zero: the
// system clock).
func startAt(t *testing.T, ln *net.TCPListener, e env, at time.Time) *testkit.Process {
	t.Helper()
	return testkit.Start(t, testkit.ProcessConfig{Flag: "LINKCREDIT_RUN_REDIRECT", AddrVar: "REDIRECT_ADDR",
		Listener: ln, Env: e, Now: at})
}

var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func admin(t *testing.T, method, url, body string, headers ...string) response {
	return do(t, method, url, body, append([]string{"Authorization", "Bearer " + adminToken}, headers...)...)
}

func putLink(t *testing.T, base, code, dest string) {
	t.Helper()
	r := admin(t, "PUT", base+"/v1/links/"+code, fmt.Sprintf(`{"partner":"coursera","course_id":"%s","title":"T","destination":%q}`, code, dest))
	if r.status != 201 && r.status != 200 {
		t.Fatalf("PUT %s = %d %s", code, r.status, r.body)
	}
}

// shipped is a click as read from clicks.v1, with its Kafka timestamp and
// the size of the message's value.
type shipped struct {
	events.ClickRecorded
	KafkaTime  time.Time
	ValueBytes int
}

// clicks reads clicks.v1 from the start until want ids are seen.
func clicks(t *testing.T, b *testkit.Broker, want map[string]bool, timeout time.Duration) map[string]shipped {
	t.Helper()
	got := map[string]shipped{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	testkit.ReadTopic(ctx, t, []string{b.Addr}, events.TopicClicks, func(m kafka.Message) bool {
		c, err := events.DecodeClick(m.Value)
		if err != nil {
			t.Errorf("bad event on clicks.v1: %v: %s", err, m.Value)
			return false
		}
		hasTrace := false
		for _, h := range m.Headers {
			hasTrace = hasTrace || (h.Key == "traceparent" && len(h.Value) == 55)
		}
		if !hasTrace {
			t.Errorf("click %s has no W3C traceparent header", c.ID)
		}
		got[c.ID] = shipped{c, m.Time, len(m.Value)}
		for id := range want {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	return got
}

// counter sums the samples of a Prometheus counter in a /metrics page.
func counter(page, name string) float64 {
	var sum float64
	for line := range strings.Lines(page) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric whose name starts with this one
		}
		if rest[0] == '{' {
			_, rest, _ = strings.Cut(rest, "} ")
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}
