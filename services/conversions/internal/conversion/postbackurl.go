package conversion

import (
	"context"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
)

// PostbackURLRequest asks for a partner's postback URL. Token is the
// partner's postback token if the caller wants it in the URL: the service
// keeps only its digest, so it cannot write the token unless given it.
type PostbackURLRequest struct {
	Partner string
	Token   string
}

// PostbackURL is the postback URL of a partner, to enter in its network.
type PostbackURL struct {
	Partner string `json:"partner"`
	Preset  string `json:"preset"`
	adapter.PostbackURL
}

// ErrTokenMismatch: the token given for a postback URL is not the
// partner's postback token, so the URL would be refused.
var ErrTokenMismatch = errs.Fields{{Field: "token", Message: "is not this partner's postback token"}}.Err("invalid_value")

func (s *service) PostbackURL(ctx context.Context, req PostbackURLRequest) (PostbackURL, error) {
	p, err := s.partner(ctx, req.Partner)
	if err != nil {
		return PostbackURL{}, err
	}
	if req.Token != "" && (p.TokenDigest == nil || !s.deps.Box.Matches(p.ID, req.Token, p.TokenDigest)) {
		return PostbackURL{}, ErrTokenMismatch
	}
	return PostbackURL{Partner: p.ID, Preset: p.mapping.Preset,
		PostbackURL: p.mapping.PostbackURL(s.deps.PublicBaseURL, p.ID, req.Token)}, nil
}
