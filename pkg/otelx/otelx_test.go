package otelx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestLoggerCarriesTraceIDs(t *testing.T) {
	tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var buf bytes.Buffer
	logger := NewLogger(&buf, "test", slog.LevelInfo)
	ctx, span := tel.Tracer("t").Start(context.Background(), "op")
	logger.InfoContext(ctx, "hello")
	span.End()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line is not JSON: %q", buf.String())
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["service"] != "test" {
		t.Fatalf("log line = %v", rec)
	}
}

func TestMiddlewareMetricsReachPrometheus(t *testing.T) {
	tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	logger := NewLogger(&bytes.Buffer{}, "test", slog.LevelInfo)
	ep := EndpointMiddleware(tel, logger, "get_link")(func(context.Context, any) (any, error) {
		return nil, errs.New(errs.NotFound, "", "no link")
	})
	if _, err := ep(context.Background(), nil); !errors.Is(err, errs.NotFound) {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/{code}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(302) })
	h := HTTPMiddleware(tel, mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/c/abc", nil))

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`endpoint_duration_seconds_count{endpoint="get_link",outcome="not found"`,
		`http_server_request_duration_seconds_count{http_response_status_code="302",http_route="GET /c/{code}"`,
		// Buckets in seconds, fine enough for a sub-millisecond redirect.
		`http_server_request_duration_seconds_bucket{http_response_status_code="302",http_route="GET /c/{code}",le="0.001"}`,
		`endpoint_duration_seconds_bucket{endpoint="get_link",outcome="not found",le="0.0005"}`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A visitor's trace headers on a public route start no trace of theirs
// and never reach the handler, whether the visitor sent a traceparent,
// only a tracestate, or an empty traceparent; an operator's traceparent
// on an admin route is joined. Both with everything sampled locally and
// with nothing (the path that skips the span).
func TestInboundTraceHeaders(t *testing.T) {
	const inbound = "4bf92f3577b34da6a3ce929d0e0e4736"
	const traceparent = "00-" + inbound + "-00f067aa0ba902b7-01"
	for _, ratio := range []float64{1, 0} {
		tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: ratio})
		if err != nil {
			t.Fatal(err)
		}
		defer tel.Shutdown(context.Background())
		var got string
		var seen http.Header
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			got, seen = trace.SpanContextFromContext(r.Context()).TraceID().String(), r.Header
		})
		h := HTTPMiddleware(tel, mux, "/c/", "/v1/webhooks/", "/v1/postback/")
		for _, tt := range []struct {
			path    string
			headers map[string]string // canonical keys, set even when empty
			joined  bool
		}{
			{"/v1/links/abc", map[string]string{"Traceparent": traceparent}, true},
			{"/c/abc", map[string]string{"Traceparent": traceparent}, false},
			{"/v1/webhooks/coursera", map[string]string{"Traceparent": traceparent}, false},
			{"/c/abc", map[string]string{"Tracestate": "vendor=1"}, false},
			{"/v1/postback/acme", map[string]string{"Traceparent": ""}, false},
		} {
			req := httptest.NewRequest("GET", tt.path, nil)
			for k, v := range tt.headers {
				req.Header[k] = []string{v}
			}
			got, seen = "", nil
			h.ServeHTTP(httptest.NewRecorder(), req)
			if (got == inbound) != tt.joined {
				t.Errorf("ratio %v, %s %v: trace %s, joined the inbound trace = %v, want %v", ratio, tt.path, tt.headers, got, got == inbound, tt.joined)
			}
			if tt.joined {
				continue
			}
			for _, k := range []string{"Traceparent", "Tracestate"} {
				if _, ok := seen[k]; ok {
					t.Errorf("ratio %v, %s %v: the handler saw %s", ratio, tt.path, tt.headers, k)
				}
			}
		}
	}
}

// Each request is sampled once, at the configured ratio: its server span
// and the endpoint span below it together, or neither. Before, the ratio
// sampler decided again on the trace id, so about ratio² of requests had
// a server span, and the endpoint spans of skipped requests were sampled
// as traces of their own.
func TestOneSamplingDecisionARequest(t *testing.T) {
	const ratio, requests = 0.5, 2000
	tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: ratio})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tel.TracerProvider.(*sdktrace.TracerProvider).RegisterSpanProcessor(spans)
	endpoint := EndpointMiddleware(tel, slog.New(slog.DiscardHandler), "get_link")(
		func(context.Context, any) (any, error) { return nil, nil })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/{code}", func(w http.ResponseWriter, r *http.Request) {
		endpoint(r.Context(), nil) //nolint:errcheck // never fails
	})
	srv := httptest.NewUnstartedServer(HTTPMiddleware(tel, mux, "/c/"))
	srv.Config.BaseContext = func(net.Listener) context.Context { return DecidedPerRequest(context.Background()) }
	srv.Start()
	defer srv.Close()
	for range requests {
		res, err := srv.Client().Get(srv.URL + "/c/abc")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	servers := map[trace.TraceID]bool{}
	var endpoints []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		switch s.Name() {
		case "GET /c/{code}":
			servers[s.SpanContext().TraceID()] = true
		case "get_link":
			endpoints = append(endpoints, s)
		default:
			t.Errorf("span %q", s.Name())
		}
	}
	// 2000 requests at 0.5: 1000 expected, sd 22; ratio² would give 500.
	if n := len(servers); n < 850 || n > 1150 {
		t.Errorf("%d of %d requests have a server span at ratio %v, want about %d", n, requests, ratio, int(ratio*requests))
	}
	if len(endpoints) != len(servers) {
		t.Errorf("%d endpoint spans for %d server spans", len(endpoints), len(servers))
	}
	for _, s := range endpoints {
		if !s.Parent().IsValid() || !servers[s.SpanContext().TraceID()] {
			t.Errorf("endpoint span of trace %s is not below a server span", s.SpanContext().TraceID())
		}
	}
}

// Where no middleware decided (background work), new traces are sampled
// by the ratio.
func TestRootSamplerFallsBackToTheRatio(t *testing.T) {
	for _, ratio := range []float64{0, 1} {
		tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: ratio})
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.Tracer("test").Start(context.Background(), "sweep")
		if got := span.SpanContext().IsSampled(); got != (ratio == 1) {
			t.Errorf("ratio %v: sampled %v", ratio, got)
		}
		span.End()
		_, span = tel.Tracer("test").Start(DecidedPerRequest(context.Background()), "below a skipped request")
		if span.SpanContext().IsSampled() {
			t.Errorf("ratio %v: a span under a skipped request was sampled", ratio)
		}
		span.End()
		_, span = tel.Tracer("test").Start(context.WithValue(context.Background(), decisionKey{}, true), "below a sampled request")
		if !span.SpanContext().IsSampled() {
			t.Errorf("ratio %v: a span under a sampled request was not sampled", ratio)
		}
		span.End()
		tel.Shutdown(context.Background())
	}
}

// A traceparent that is no trace's, on a route that joins a caller's
// trace, starts a new trace sampled at the ratio, as a request without
// one does: never always, never never.
func TestInvalidTraceparentIsANewTrace(t *testing.T) {
	for _, ratio := range []float64{0, 1} {
		tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: ratio})
		if err != nil {
			t.Fatal(err)
		}
		spans := tracetest.NewSpanRecorder()
		tel.TracerProvider.(*sdktrace.TracerProvider).RegisterSpanProcessor(spans)
		h := HTTPMiddleware(tel, http.NotFoundHandler(), "/c/")
		req := httptest.NewRequestWithContext(DecidedPerRequest(context.Background()), "GET", "/v1/links/abc", nil)
		req.Header.Set("Traceparent", "00-not-a-trace-01")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got := len(spans.Ended()); got != int(ratio) {
			t.Errorf("ratio %v: %d spans, want %d", ratio, got, int(ratio))
		}
		tel.Shutdown(context.Background())
	}
}
