package otelx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
