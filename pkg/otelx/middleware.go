package otelx

import (
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

const scope = "github.com/linkcredit/linkcredit/pkg/otelx"

// DurationBuckets are the bucket boundaries, in seconds, of a histogram
// of durations: from 100 µs (a redirect) to a minute (an export). The
// SDK's default boundaries (0, 5, 10, 25 … 10000) are for milliseconds:
// in seconds every request fell in the first bucket, and no quantile could
// be read from them.
func DurationBuckets() metric.HistogramOption {
	return metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
}

// EndpointMiddleware wraps a go-kit endpoint with a span, a duration
// histogram labelled by outcome, and a log line: internal failures at error
// level, client errors (bad input) at debug, so logs show what needs a human.
func EndpointMiddleware(t *Telemetry, logger *slog.Logger, name string) endpoint.Middleware {
	tracer := t.Tracer(scope)
	duration, _ := t.Meter(scope).Float64Histogram("endpoint.duration",
		metric.WithDescription("Time spent in a go-kit endpoint, by endpoint and outcome."), metric.WithUnit("s"), DurationBuckets())
	byOutcome := newAttrCache(func(outcome string) attribute.Set {
		return attribute.NewSet(attribute.String("endpoint", name), attribute.String("outcome", outcome))
	})
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (resp any, err error) {
			ctx, span := tracer.Start(ctx, name)
			start := time.Now()
			defer func() {
				failure := err
				if f, ok := resp.(endpoint.Failer); ok && failure == nil {
					failure = f.Failed()
				}
				outcome := "ok"
				if failure != nil {
					kind := errs.KindOf(failure)
					outcome = kind.Error()
					span.RecordError(failure)
					if kind == errs.Internal || kind == errs.Unavailable {
						span.SetStatus(codes.Error, outcome)
						logger.ErrorContext(ctx, "endpoint failed", "endpoint", name, "error", failure.Error())
					} else {
						logger.DebugContext(ctx, "endpoint refused", "endpoint", name, "error", failure.Error())
					}
				}
				duration.Record(ctx, time.Since(start).Seconds(), byOutcome.get(outcome))
				span.End()
			}()
			return next(ctx, req)
		}
	}
}

// HTTPMiddleware gives every request a server span (joining the caller's
// trace from its traceparent header) and counts requests and their
// durations by route pattern and status. On paths under publicPrefixes
// (routes anyone on the internet calls: clicks, webhooks, postbacks) an
// inbound traceparent is ignored, so a visitor cannot force sampling or
// join our traces to theirs.
func HTTPMiddleware(t *Telemetry, next http.Handler, publicPrefixes ...string) http.Handler {
	tracer := t.Tracer(scope)
	duration, _ := t.Meter(scope).Float64Histogram("http.server.request.duration",
		metric.WithDescription("Time to answer an HTTP request, by route and status."), metric.WithUnit("s"), DurationBuckets())
	attrs := newAttrCache(func(k routeStatus) attribute.Set {
		return attribute.NewSet(attribute.String("http.route", k.route), attribute.Int("http.response.status_code", k.status))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// net/http stores header keys canonical: index the map, as
		// Header.Get would after canonicalising the key again.
		_, traced := r.Header["Traceparent"]
		if _, state := r.Header["Tracestate"]; traced || state {
			for _, p := range publicPrefixes {
				if strings.HasPrefix(r.URL.Path, p) {
					r = r.Clone(r.Context())
					r.Header.Del("Traceparent")
					r.Header.Del("Tracestate")
					traced = false
					break
				}
			}
		}
		newTrace := !traced || r.Header.Get("Traceparent") == ""
		if newTrace && rand.Float64() >= t.SampleRatio {
			// A new trace the sampler would drop: skip the span, and the
			// request copy it needs, and only count. On a hot path at 1%
			// sampling that is most requests.
			rec := &StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
			next.ServeHTTP(rec, r)
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			duration.Record(r.Context(), time.Since(start).Seconds(), attrs.get(routeStatus{route, rec.Status}))
			return
		}
		ctx := t.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		switch {
		case newTrace: // sampled above, whatever the ratio sampler would say of its trace id (see DecidedPerRequest)
			ctx = context.WithValue(ctx, decisionKey{}, true)
		case !trace.SpanContextFromContext(ctx).IsValid(): // a traceparent that is no trace's: a new trace after all
			ctx = context.WithValue(ctx, decisionKey{}, rand.Float64() < t.SampleRatio)
		}
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		rec := &StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.Status))
		if rec.Status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.Status))
		}
		duration.Record(ctx, time.Since(start).Seconds(), attrs.get(routeStatus{route, rec.Status}))
	})
}

// attrCache keeps one attribute set per key (a route and status, an
// endpoint's outcome): building a set per request costs allocations on
// every hot-path hit. Reads take no lock and box nothing (a sync.Map's
// key is an interface: one allocation a request); the few writes, one
// per key ever seen, copy the map. Keys must come from a bounded set.
type attrCache[K comparable] struct {
	build func(K) attribute.Set
	mu    sync.Mutex // serialises writers
	m     atomic.Pointer[map[K]metric.MeasurementOption]
}

func newAttrCache[K comparable](build func(K) attribute.Set) *attrCache[K] {
	return &attrCache[K]{build: build}
}

type routeStatus struct {
	route  string
	status int
}

func (c *attrCache[K]) get(k K) metric.MeasurementOption {
	if m := c.m.Load(); m != nil {
		if opt, ok := (*m)[k]; ok {
			return opt
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if opt, ok := (*old)[k]; ok {
			return opt
		}
	}
	next := map[K]metric.MeasurementOption{}
	if old != nil {
		next = maps.Clone(*old)
	}
	opt := metric.WithAttributeSet(c.build(k))
	next[k] = opt
	c.m.Store(&next)
	return opt
}

// StatusRecorder remembers the status a handler wrote.
type StatusRecorder struct {
	http.ResponseWriter
	Status      int
	wroteHeader bool
}

// WriteHeader records the status.
func (s *StatusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.Status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
