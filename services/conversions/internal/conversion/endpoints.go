package conversion

import (
	"context"

	"github.com/go-kit/kit/endpoint"
)

// Endpoints are the service's operations as go-kit endpoints.
type Endpoints struct {
	PutPartner   endpoint.Endpoint
	GetPartner   endpoint.Endpoint
	ListPartners endpoint.Endpoint
	Webhook      endpoint.Endpoint
	Postback     endpoint.Endpoint
	PostbackURL  endpoint.Endpoint
}

// MakeEndpoints wraps each method of s with mw(name).
func MakeEndpoints(s Service, mw func(name string) endpoint.Middleware) Endpoints {
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		if mw == nil {
			return e
		}
		return mw(name)(e)
	}
	return Endpoints{
		PutPartner: wrap("put_partner", func(ctx context.Context, req any) (any, error) {
			p, created, err := s.PutPartner(ctx, req.(PartnerInput))
			return PutPartnerResponse{Partner: p, Created: created}, err
		}),
		GetPartner: wrap("get_partner", func(ctx context.Context, req any) (any, error) {
			return s.GetPartner(ctx, req.(string))
		}),
		ListPartners: wrap("list_partners", func(ctx context.Context, _ any) (any, error) {
			ps, err := s.ListPartners(ctx)
			return map[string]any{"partners": ps}, err
		}),
		Webhook: wrap("webhook", func(ctx context.Context, req any) (any, error) {
			return s.Webhook(ctx, req.(WebhookRequest))
		}),
		Postback: wrap("postback", func(ctx context.Context, req any) (any, error) {
			return s.Postback(ctx, req.(PostbackRequest))
		}),
		PostbackURL: wrap("postback_url", func(ctx context.Context, req any) (any, error) {
			return s.PostbackURL(ctx, req.(PostbackURLRequest))
		}),
	}
}

// PutPartnerResponse is a stored partner and whether it was created.
type PutPartnerResponse struct {
	Partner Partner
	Created bool
}
