package kafkatransport

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
)

type buffers struct{ value, frame []byte }

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
	carrier := propagation.MapCarrier{}
	r.propagator.Inject(ctx, carrier)
	b := r.bufs.Get().(*buffers)
	defer r.bufs.Put(b)
	var err error
	if b.value, err = events.AppendMarshal(b.value[:0], c); err != nil {
		return err
	}
	b.frame = appendFrame(b.frame[:0], c.Key(), carrier["traceparent"], b.value)
	return r.log.Append(b.frame, time.Now())
}
