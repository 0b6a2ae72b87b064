package redirect

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
)

// Endpoints are the service's operations as go-kit endpoints, so transport
// and middleware (tracing, metrics, logging) compose around them.
type Endpoints struct {
	Click       endpoint.Endpoint
	PutLink     endpoint.Endpoint
	GetLink     endpoint.Endpoint
	ListLinks   endpoint.Endpoint
	ImportLinks endpoint.Endpoint
}

// MakeEndpoints wraps each method of s, applying mw (outermost first) to all.
func MakeEndpoints(s Service, mw func(name string) endpoint.Middleware) Endpoints {
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		if mw == nil {
			return e
		}
		return mw(name)(e)
	}
	return Endpoints{
		Click:       wrap("click", MakeClickEndpoint(s)),
		PutLink:     wrap("put_link", MakePutLinkEndpoint(s)),
		GetLink:     wrap("get_link", MakeGetLinkEndpoint(s)),
		ListLinks:   wrap("list_links", MakeListLinksEndpoint(s)),
		ImportLinks: wrap("import_links", MakeImportLinksEndpoint(s)),
	}
}

// MakeClickEndpoint resolves a click.
func MakeClickEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return s.Click(ctx, *req.(*ClickRequest))
	}
}

// PutLinkResponse is a stored link and whether it was created.
type PutLinkResponse struct {
	Link    link.Link
	Created bool
}

// MakePutLinkEndpoint creates or replaces a link.
func MakePutLinkEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		l, created, err := s.PutLink(ctx, req.(link.Link))
		return PutLinkResponse{Link: l, Created: created}, err
	}
}

// MakeGetLinkEndpoint reads a link by code (the request is the code).
func MakeGetLinkEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return s.GetLink(ctx, req.(string))
	}
}

// MakeListLinksEndpoint pages through links.
func MakeListLinksEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return s.ListLinks(ctx, req.(ListQuery))
	}
}

// MakeImportLinksEndpoint imports a feed.
func MakeImportLinksEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return s.ImportLinks(ctx, req.(feed.Reader))
	}
}
