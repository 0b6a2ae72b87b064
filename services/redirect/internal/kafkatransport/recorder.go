package kafkatransport

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
)

type buffers struct {
	value, frame []byte
	carrier      traceparentCarrier
}

// traceparentCarrier keeps the one header a click carries, without the
// map a MapCarrier allocates per click.
type traceparentCarrier struct{ traceparent string }

func (c *traceparentCarrier) Get(key string) string {
	if key == "traceparent" {
		return c.traceparent
	}
	return ""
}

func (c *traceparentCarrier) Set(key, value string) {
	if key == "traceparent" {
		c.traceparent = value
	}
}

func (c *traceparentCarrier) Keys() []string { return []string{"traceparent"} }

// Recorder appends clicks to the click log.
type Recorder struct {
	log        *clicklog.Log
	propagator propagation.TextMapPropagator
	bufs       sync.Pool
}

// NewRecorder returns a recorder over log.
func NewRecorder(log *clicklog.Log, p propagation.TextMapPropagator) *Recorder {
	if p == nil {
		p = propagation.TraceContext{}
	}
	r := &Recorder{log: log, propagator: p}
	r.bufs.New = func() any { return &buffers{value: make([]byte, 0, 1024), frame: make([]byte, 0, 1200)} }
	return r
}

// Record frames the click with the caller's trace context and appends it.
func (r *Recorder) Record(ctx context.Context, c events.ClickRecorded) error {
	b := r.bufs.Get().(*buffers)
	defer r.bufs.Put(b)
	b.carrier.traceparent = ""
	r.propagator.Inject(ctx, &b.carrier)
	b.value = c.AppendJSON(b.value[:0])
	b.frame = appendFrame(b.frame[:0], []byte(c.ID), b.carrier.traceparent, b.value)
	return r.log.Append(b.frame, time.Now())
}
