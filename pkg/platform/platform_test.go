package platform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/platform"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

func TestReadConfigStopsOnBadValues(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "config: ADMIN_TOKEN is required"},
		{map[string]string{"ADMIN_TOKEN": "x", "REDIRECT_ADDR": "8080"}, `config: REDIRECT_ADDR="8080"`},
		{map[string]string{"ADMIN_TOKEN": "x", "DATABASE_URL": "mysql://db"}, `config: DATABASE_URL="mysql://db"`},
		{map[string]string{"ADMIN_TOKEN": "x", "KAFKA_BROKERS": "kafka"}, `config: KAFKA_BROKERS="kafka"`},
		{map[string]string{"ADMIN_TOKEN": "x", "LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	}
	for _, tt := range tests {
		r := config.New(config.FromMap(tt.env))
		platform.ReadConfig(r, "redirect", "REDIRECT_ADDR", "127.0.0.1:8080")
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.env, err, tt.want)
		}
	}
}

// TestSampleUnlessSet: a service's own sampling default applies only when
// OTEL_TRACES_SAMPLER_ARG is unset; a value set, even 1, stands.
func TestSampleUnlessSet(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want float64
	}{
		{map[string]string{"ADMIN_TOKEN": "x"}, 0.1},
		{map[string]string{"ADMIN_TOKEN": "x", "OTEL_TRACES_SAMPLER_ARG": "1"}, 1},
		{map[string]string{"ADMIN_TOKEN": "x", "OTEL_TRACES_SAMPLER_ARG": "0.05"}, 0.05},
	} {
		getenv := config.FromMap(tt.env)
		cfg := platform.ReadConfig(config.New(getenv), "conversions", "CONVERSIONS_ADDR", "127.0.0.1:8081")
		cfg.SampleUnlessSet(getenv, 0.1)
		if cfg.SampleRatio != tt.want {
			t.Errorf("%v: sample ratio %v, want %v", tt.env, cfg.SampleRatio, tt.want)
		}
	}
}

// TestStartServesProbes starts a platform on a real database and broker and
// checks the probes, then readiness failing when the broker is gone.
func TestStartServesProbes(t *testing.T) {
	kafkaCluster, brokers := testkit.KafkaCluster(t)
	env := map[string]string{
		"ADMIN_TOKEN":   "test-admin-token-0123456789abcdefghij",
		"DATABASE_URL":  testkit.DatabaseURL(t),
		"KAFKA_BROKERS": strings.Join(brokers, ","),
		"TEST_ADDR":     "127.0.0.1:0",
		// Half the requests sampled: see /sampling below.
		"OTEL_TRACES_SAMPLER_ARG": "0.5",
	}
	r := config.New(config.FromMap(env))
	cfg := platform.ReadConfig(r, "test", "TEST_ADDR", "")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	migrations := fstest.MapFS{"0001_t.up.sql": {Data: []byte(`CREATE TABLE things (id int)`)}}
	p, err := platform.Start(ctx, cfg, "test", migrations, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// A span below a request the middleware did not sample (an
	// endpoint's) is not sampled either: one decision a request.
	var skipped, orphans atomic.Int64
	p.Router.HandleFunc("GET /sampling", func(w http.ResponseWriter, r *http.Request) {
		if trace.SpanContextFromContext(r.Context()).IsValid() {
			return // sampled by the middleware
		}
		skipped.Add(1)
		_, span := p.Telemetry.Tracer("test").Start(r.Context(), "endpoint")
		if span.SpanContext().IsSampled() {
			orphans.Add(1)
		}
		span.End()
	})
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, p.Handler(p.Router), httpx.ServerConfig{}) }()
	base := "http://" + p.Listener.Addr().String()
	waitServing(t, base)

	var exists bool
	if err := p.DB.QueryRow(`SELECT to_regclass('test.things') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		t.Fatalf("migration not applied: %v", err)
	}
	if code := status(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code := status(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz %d with everything up", code)
	}
	if code := status(t, base+"/metrics"); code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for range 200 {
		status(t, base+"/sampling")
	}
	if skipped.Load() == 0 || orphans.Load() != 0 {
		t.Errorf("of 200 requests at ratio 0.5, %d not sampled by the middleware, and %d spans below those sampled", skipped.Load(), orphans.Load())
	}

	kafkaCluster.Close()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Checks map[string]string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 503 || body.Checks["kafka"] == "ok" || body.Checks["postgres"] != "ok" {
		t.Fatalf("readyz with the broker down = %d %v", resp.StatusCode, body.Checks)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitServing waits until Serve has taken the listener at base from the
// start-up stand-in, which answers every path but /healthz 503 "starting"
// (a fresh-clone CI run sent a request before it had).
func waitServing(t *testing.T, base string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() error {
		if code := status(t, base+"/nothing-here"); code == http.StatusServiceUnavailable {
			return fmt.Errorf("still starting: %d", code)
		}
		return nil
	})
}

// With METRICS_ADDR, /metrics leaves the public listener; pprof is on
// neither (only on PPROF_ADDR).
func TestMetricsOnTheInternalListener(t *testing.T) {
	env := map[string]string{
		"ADMIN_TOKEN": "test-admin-token-0123456789abcdefghij", "DATABASE_URL": testkit.DatabaseURL(t), "KAFKA_BROKERS": strings.Join(testkit.Kafka(t), ","),
		"TEST_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
	}
	r := config.New(config.FromMap(env))
	cfg := platform.ReadConfig(r, "test", "TEST_ADDR", "")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := platform.Start(ctx, cfg, "test", fstest.MapFS{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, p.Handler(p.Router), httpx.ServerConfig{}) }()
	public := "http://" + p.Listener.Addr().String()
	internal := "http://" + p.InternalAddr()
	waitServing(t, public)
	for _, tt := range []struct {
		url  string
		want int
	}{{public + "/metrics", 404}, {public + "/debug/pprof/", 404}, {public + "/healthz", 200},
		{internal + "/metrics", 200}, {internal + "/debug/pprof/", 404}, {internal + "/debug/pprof/profile?seconds=1", 404}} {
		if code := status(t, tt.url); code != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.url, code, tt.want)
		}
	}
	// An unknown path on the internal listener answers the contract's
	// JSON, as on the public one (it was net/http's plain text).
	resp, err := http.Get(internal + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /nothing on the internal listener = %d %s, want a JSON 404", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	p.Close(context.Background())
}

// `<service> migrate` needs nothing but the database, and is idempotent.
func TestMigrateCommand(t *testing.T) {
	url := testkit.DatabaseURL(t)
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }
	migrations := fstest.MapFS{"0001_t.up.sql": {Data: []byte(`CREATE TABLE things (id int)`)}}
	for range 2 {
		var out strings.Builder
		if err := platform.Migrate(context.Background(), getenv, "migrated", migrations, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "applied") {
			t.Fatalf("output %q", out.String())
		}
	}
	bad := func(k string) string { return map[string]string{"DATABASE_URL": "mysql://x/y"}[k] }
	if err := platform.Migrate(context.Background(), bad, "migrated", migrations, io.Discard); err == nil {
		t.Fatal("a non-Postgres URL was accepted")
	}
}
