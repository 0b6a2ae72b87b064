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

// A visitor's traceparent on a public route starts no trace of theirs; an
// operator's on an admin route is joined.
// TestInboundTraceHeadersAtNoSampling: with nothing sampled locally, an
// admin route still joins an inbound sampled trace, and a public route
// never does, whether the caller sent a traceparent, only a tracestate,
// or an empty traceparent; the request the handler sees carries none of
// them on a public route.
func TestInboundTraceHeadersAtNoSampling(t *testing.T) {
	tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	const inbound = "4bf92f3577b34da6a3ce929d0e0e4736"
	var got string
	var seen http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		got, seen = trace.SpanContextFromContext(r.Context()).TraceID().String(), r.Header
	})
	h := HTTPMiddleware(tel, mux, "/c/", "/v1/postback/")
	for _, tt := range []struct {
		path, traceparent, tracestate string
		joined                        bool
	}{
		{"/v1/links/abc", "00-" + inbound + "-00f067aa0ba902b7-01", "", true},
		{"/c/abc", "00-" + inbound + "-00f067aa0ba902b7-01", "", false},
		{"/c/abc", "", "vendor=1", false},
		{"/v1/postback/acme", "", "", false},
	} {
		req := httptest.NewRequest("GET", tt.path, nil)
		if tt.traceparent != "" || tt.path == "/v1/postback/acme" {
			req.Header["Traceparent"] = []string{tt.traceparent}
		}
		if tt.tracestate != "" {
			req.Header.Set("Tracestate", tt.tracestate)
		}
		got, seen = "", nil
		h.ServeHTTP(httptest.NewRecorder(), req)
		if (got == inbound) != tt.joined {
			t.Errorf("%s: trace %s, joined the inbound trace = %v, want %v", tt.path, got, got == inbound, tt.joined)
		}
		if !tt.joined {
			if _, ok := seen["Traceparent"]; ok {
				t.Errorf("%s: the handler saw a Traceparent header", tt.path)
			}
			if _, ok := seen["Tracestate"]; ok {
				t.Errorf("%s: the handler saw a Tracestate header", tt.path)
			}
		}
	}
}

func TestPublicRoutesIgnoreInboundTraceparent(t *testing.T) {
	tel, err := Setup(context.Background(), Config{ServiceName: "test", SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	const inbound = "4bf92f3577b34da6a3ce929d0e0e4736"
	var got string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context()).TraceID().String()
	})
	h := HTTPMiddleware(tel, mux, "/c/", "/v1/webhooks/")
	for _, tt := range []struct {
		path   string
		joined bool
	}{{"/c/abc", false}, {"/v1/webhooks/coursera", false}, {"/v1/links/abc", true}} {
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("Traceparent", "00-"+inbound+"-00f067aa0ba902b7-01")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if (got == inbound) != tt.joined {
			t.Errorf("%s: trace %s, joined the inbound trace = %v, want %v", tt.path, got, got == inbound, tt.joined)
		}
	}
}
