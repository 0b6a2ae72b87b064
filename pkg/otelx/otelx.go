package otelx

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config says what to set up.
type Config struct {
	ServiceName string
	Version     string
	// OTLPEndpoint enables OTLP export of traces and metrics
	// (OTEL_EXPORTER_OTLP_ENDPOINT); the exporters read the rest of the
	// standard OTEL_EXPORTER_OTLP_* variables themselves.
	OTLPEndpoint string
	// SampleRatio is the share of root traces sampled (0..1); children follow
	// their parent's decision.
	SampleRatio float64
}

// Telemetry holds the providers a service passes to its parts.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	SampleRatio    float64
	registry       *prometheus.Registry
	shutdown       []func(context.Context) error
}

// Setup builds the providers. Call Shutdown (last, on exit) to flush them.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", cfg.Version),
	))
	if err != nil {
		return nil, fmt.Errorf("otelx: resource: %w", err)
	}
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		res, _ = resource.Merge(res, envRes)
	}
	t := &Telemetry{
		SampleRatio: cfg.SampleRatio,
		Propagator:  propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		registry:    prometheus.NewRegistry(),
	}
	t.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	promExporter, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("otelx: prometheus exporter: %w", err)
	}
	meterOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	traceOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(rootSampler{sdktrace.TraceIDRatioBased(cfg.SampleRatio)})),
	}
	if cfg.OTLPEndpoint != "" {
		traceExp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otelx: otlp trace exporter: %w", err)
		}
		traceOpts = append(traceOpts, sdktrace.WithBatcher(traceExp))
		metricExp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otelx: otlp metric exporter: %w", err)
		}
		meterOpts = append(meterOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)))
	}
	mp := sdkmetric.NewMeterProvider(meterOpts...)
	tp := sdktrace.NewTracerProvider(traceOpts...)
	t.MeterProvider, t.TracerProvider = mp, tp
	t.shutdown = append(t.shutdown, tp.Shutdown, mp.Shutdown)
	return t, nil
}

// MetricsHandler serves the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes and stops every provider, joining their errors.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, fn := range t.shutdown {
		errs = append(errs, fn(ctx))
	}
	return errors.Join(errs...)
}

// Tracer is a named tracer of t's provider.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.TracerProvider.Tracer(name) }

// Meter is a named meter of t's provider.
func (t *Telemetry) Meter(name string) metric.Meter { return t.MeterProvider.Meter(name) }

// decisionKey carries HTTPMiddleware's sampling decision for a request's
// new trace to the sampler: one decision a request, where two (the
// middleware's share, then the ratio sampler's own on the trace id) had
// sampled about ratio² of requests, and endpoint spans below a skipped
// request had become traces of their own.
type decisionKey struct{}

// DecidedPerRequest marks a server's context so that a new trace under
// any of its requests is sampled only when HTTPMiddleware samples the
// request: spans started below a request it skipped (go-kit endpoints,
// statements) are dropped, not sampled as roots of their own. Only for
// servers whose handler HTTPMiddleware wraps. A caller's traceparent,
// where joined, decides as before.
func DecidedPerRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, decisionKey{}, false)
}

// rootSampler samples a new trace as HTTPMiddleware decided for its
// request, and by ratio where nothing decided (background work, consumers
// of events without a trace).
type rootSampler struct{ ratio sdktrace.Sampler }

func (s rootSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	sample, decided := p.ParentContext.Value(decisionKey{}).(bool)
	if !decided {
		return s.ratio.ShouldSample(p)
	}
	res := sdktrace.SamplingResult{Decision: sdktrace.Drop,
		Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	if sample {
		res.Decision = sdktrace.RecordAndSample
	}
	return res
}

func (s rootSampler) Description() string {
	return "HTTPMiddlewareDecides{" + s.ratio.Description() + "}"
}
