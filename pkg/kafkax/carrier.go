package kafkax

import (
	"context"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts message headers to OpenTelemetry's TextMapCarrier so
// W3C traceparent and tracestate travel with each message.
type HeaderCarrier struct{ Headers *[]kafka.Header }

var _ propagation.TextMapCarrier = HeaderCarrier{}

// index is the position of key's first header, -1 when it has none.
func (c HeaderCarrier) index(key string) int {
	for i, h := range *c.Headers {
		if h.Key == key {
			return i
		}
	}
	return -1
}

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if i := c.index(key); i >= 0 {
		return string((*c.Headers)[i].Value)
	}
	return ""
}

// Set replaces key's value.
func (c HeaderCarrier) Set(key, value string) {
	if i := c.index(key); i >= 0 {
		(*c.Headers)[i].Value = []byte(value)
		return
	}
	*c.Headers = append(*c.Headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		keys[i] = h.Key
	}
	return keys
}

// Inject writes ctx's trace context into msg's headers unless the message
// already carries one (a message stored earlier keeps its original trace).
func Inject(ctx context.Context, p propagation.TextMapPropagator, msg *kafka.Message) {
	c := HeaderCarrier{Headers: &msg.Headers}
	// Not Get: its string copy is an allocation a message.
	if i := c.index("traceparent"); i >= 0 && len(msg.Headers[i].Value) > 0 {
		return
	}
	p.Inject(ctx, c)
}

// Extract returns ctx with the trace context found in msg's headers.
func Extract(ctx context.Context, p propagation.TextMapPropagator, msg kafka.Message) context.Context {
	return p.Extract(ctx, HeaderCarrier{Headers: &msg.Headers})
}

// Header returns the value of a header, "" when absent.
func Header(msg kafka.Message, key string) string {
	return HeaderCarrier{Headers: &msg.Headers}.Get(key)
}
