package conversion

import (
	"context"
	"net/url"
	"time"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
)

// Replayer decodes stored requests again through the partners' current
// adapters, for when a mapping was wrong: each gives a new event that
// names the one it supersedes (replay_of).
type Replayer struct{ s *service }

// NewReplayer returns a replayer over the same dependencies as the service.
func NewReplayer(deps Deps) *Replayer { return &Replayer{s: New(deps).(*service)} }

// StoredRequest is an inbox row.
type StoredRequest struct {
	Partner, IdempotencyKey, EventID, Source, Query string
	Body                                            []byte
	ReceivedAt                                      time.Time
	// AcceptedSeq is the acceptance number the request got (0 for one
	// stored before contract v1.1): the replayed event carries it again,
	// so it takes its original's place among the conversion's events.
	AcceptedSeq int64
}

// Event re-decodes a stored request. run distinguishes replay runs, so a
// second replay supersedes the first.
func (r *Replayer) Event(ctx context.Context, req StoredRequest, run string) (OutboxMessage, error) {
	p, err := r.s.partner(ctx, req.Partner)
	if err != nil {
		return OutboxMessage{}, err
	}
	var c adapter.Conversion
	switch {
	case req.Source == events.SourceWebhook:
		c, err = p.webhook.DecodeWebhook(req.Body, p.limits, req.ReceivedAt)
	case len(req.Body) > 0: // a postback with a JSON body
		c, err = p.mapping.FromJSON(req.Body, p.limits, req.ReceivedAt)
	default:
		params, perr := url.ParseQuery(req.Query)
		if perr != nil {
			return OutboxMessage{}, perr
		}
		c, err = p.mapping.FromParams(params, p.limits, req.ReceivedAt)
	}
	if err != nil {
		return OutboxMessage{}, err
	}
	ev := r.s.event(p, c, req.IdempotencyKey, events.SourceReplay, req.ReceivedAt.UTC())
	ev.ID = EventID(p.ID, req.IdempotencyKey+"\x00replay\x00"+run)
	ev.ReplayOf = req.EventID
	ev.AcceptedSeq = req.AcceptedSeq
	return Message(ctx, ev, nil)
}
