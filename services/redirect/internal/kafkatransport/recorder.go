package kafkatransport

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
)

type buffers struct {
	value, frame []byte
	carrier      traceparentCarrier
	rng          *rand.ChaCha8
}

// traceparentLen is the length of a W3C traceparent of version 00.
const traceparentLen = 55

// newTraceparent writes "00-<trace id>-<span id>-00" with random ids to
// out: no string to allocate for each unsampled click.
func (b *buffers) newTraceparent(out *[traceparentLen]byte) {
	var ids [24]byte
	b.rng.Read(ids[:])
	copy(out[:], "00-")
	hex.Encode(out[3:35], ids[:16])
	out[35] = '-'
	hex.Encode(out[36:52], ids[16:])
	copy(out[52:], "-00")
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

// MaxFrameBytes bounds one click in the click log, and so what one click
// can cost its disk budget: with RATE_LIMIT_PER_MINUTE clicks per visitor
// and RATE_LIMIT_PER_IP_PER_MINUTE per network, a visitor appends at most
// that many frames a minute. A click within the caps of contract v1.1 is
// far below it (TestWorstCaseClickFits): at most about 17 KB when every
// value is at its cap and every character a header may carry is one JSON
// escapes (a destination filled to 8 KB, a 512-byte agent, a 2 KB
// referer), about 27 KB even with control characters; most clicks take
// under 1 KB. Record refuses a bigger one (a bug upstream of it, then)
// rather than let it through.
const MaxFrameBytes = 32 << 10

// ErrFrameTooLarge is returned by Record for a click above MaxFrameBytes.
var ErrFrameTooLarge = fmt.Errorf("kafkatransport: a click frame is larger than %d bytes", MaxFrameBytes)

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
	r.bufs.New = func() any {
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		return &buffers{value: make([]byte, 0, 1024), frame: make([]byte, 0, 1200), rng: rand.NewChaCha8(seed)}
	}
	return r
}

// Record frames the click with the caller's trace context and appends it.
func (r *Recorder) Record(ctx context.Context, c events.ClickRecorded) error {
	b := r.bufs.Get().(*buffers)
	defer r.bufs.Put(b)
	b.carrier.traceparent = ""
	// Most clicks are not sampled and have no span to propagate: the
	// propagator would write no traceparent for them, at a cost on every
	// click (issue 15's profile).
	if trace.SpanContextFromContext(ctx).IsValid() {
		r.propagator.Inject(ctx, &b.carrier)
	}
	var fresh [traceparentLen]byte
	traceparent := []byte(b.carrier.traceparent)
	if len(traceparent) == 0 {
		// An unsampled click has no span: it still carries a traceparent
		// (flags 00, not sampled), so every message has one and a consumer
		// can start its trace from it.
		b.newTraceparent(&fresh)
		traceparent = fresh[:]
	}
	b.value = c.AppendJSON(b.value[:0])
	b.frame = appendFrame(b.frame[:0], []byte(c.ID), traceparent, b.value)
	if len(b.frame) > MaxFrameBytes {
		b.value, b.frame = nil, nil // do not pool what such a click grew
		return ErrFrameTooLarge
	}
	// The append time only measures shipping lag (the oldest unshipped
	// record's age) against the system clock; the click's own time is
	// c.OccurredAt, from the service's clock.
	return r.log.Append(b.frame, time.Now())
}
