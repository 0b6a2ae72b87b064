package conversion

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/money"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
	"github.com/linkcredit/linkcredit/services/conversions/internal/webhook"
)

// PartnerInput is the body of PUT /v1/partners/{partner}. A PUT replaces
// the partner: what it leaves out takes its default (max_amount, mapping),
// except secrets and token, which cannot be read back and so are kept.
type PartnerInput struct {
	ID             string   `json:"-"`
	Name           string   `json:"name"`
	WebhookSecrets []string `json:"webhook_secrets"`
	PostbackToken  *string  `json:"postback_token"`
	Currency       string   `json:"currency"`
	// MaxAmount is a decimal string in Currency (adapter.ParseMaxAmount);
	// empty means adapter.DefaultMaxAmount.
	MaxAmount string          `json:"max_amount"`
	Mapping   adapter.Mapping `json:"mapping"`
	Adapter   string          `json:"adapter"` // shorthand for mapping.preset
}

// Partner is a partner as the API shows it: never its secrets.
type Partner struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Currency         string          `json:"currency"`
	MaxAmount        string          `json:"max_amount"`
	Mapping          adapter.Mapping `json:"mapping"`
	WebhookSecrets   int             `json:"webhook_secrets"`
	PostbackTokenSet bool            `json:"postback_token_set"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

func view(p StoredPartner) Partner {
	maxAmount := p.MaxAmount
	if maxAmount.Minor <= 0 {
		maxAmount = adapter.DefaultMaxAmount(p.Currency)
	}
	return Partner{ID: p.ID, Name: p.Name, Currency: p.Currency, MaxAmount: maxAmount.String(), Mapping: p.Mapping,
		WebhookSecrets: len(p.SealedSecrets), PostbackTokenSet: p.TokenDigest != nil, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func validPartnerID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

func (s *service) PutPartner(ctx context.Context, in PartnerInput) (Partner, bool, error) {
	var f errs.Fields
	if !validPartnerID(in.ID) {
		f.Add("partner", "must be 1 to 64 lower-case letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		f.Add("name", "is required (at most 200 characters)")
	} else if strings.ContainsFunc(in.Name, unicode.IsControl) {
		f.Add("name", "must not hold control characters")
	}
	in.Currency = strings.ToUpper(in.Currency)
	maxAmount := adapter.DefaultMaxAmount(in.Currency)
	if !money.IsCurrency(in.Currency) {
		f.Add("currency", "%q is not an ISO 4217 currency", in.Currency)
	} else if in.MaxAmount != "" {
		var err error
		if maxAmount, err = adapter.ParseMaxAmount(in.MaxAmount, in.Currency); err != nil {
			f.Add("max_amount", "%v", err)
		}
	}
	if len(in.WebhookSecrets) > 2 {
		// Each entry is not checked too: the answer would grow with them.
		f.Add("webhook_secrets", "at most two may be active at once (for rotation)")
	} else {
		for i, sec := range in.WebhookSecrets {
			if _, err := webhook.ParseSecret(sec); err != nil {
				f.Add("webhook_secrets", "entry %d: %v", i+1, err)
			}
		}
	}
	if in.PostbackToken != nil && (len(*in.PostbackToken) < 16 || len(*in.PostbackToken) > 256) {
		f.Add("postback_token", "must be 16 to 256 characters")
	}
	if in.Adapter != "" {
		if in.Mapping.Preset != "" && in.Mapping.Preset != in.Adapter {
			f.Add("adapter", "differs from mapping.preset")
		}
		in.Mapping.Preset = in.Adapter
	}
	if _, err := in.Mapping.Resolve(); err != nil {
		f.Add("mapping", "%v", err)
	}
	if err := f.Err("invalid_partner"); err != nil {
		return Partner{}, false, err
	}
	sp := StoredPartner{ID: in.ID, Name: in.Name, Currency: in.Currency, MaxAmount: maxAmount, Mapping: in.Mapping,
		UpdatedAt: s.deps.Now().UTC().Truncate(time.Microsecond)}
	if in.WebhookSecrets != nil {
		sp.SealedSecrets = [][]byte{}
		for _, sec := range in.WebhookSecrets {
			sealed, err := s.deps.Box.Seal(in.ID, []byte(sec))
			if err != nil {
				return Partner{}, false, err
			}
			sp.SealedSecrets = append(sp.SealedSecrets, sealed)
		}
	}
	if in.PostbackToken != nil {
		sp.TokenDigest = s.deps.Box.Digest(in.ID, *in.PostbackToken)
	}
	stored, created, err := s.deps.Store.PutPartner(ctx, sp)
	if err != nil {
		return Partner{}, false, err
	}
	s.cache.forget(in.ID)
	return view(stored), created, nil
}

func (s *service) GetPartner(ctx context.Context, id string) (Partner, error) {
	if !validPartnerID(id) {
		return Partner{}, ErrPartnerNotFound
	}
	p, err := s.deps.Store.GetPartner(ctx, id)
	if errors.Is(err, errs.NotFound) {
		return Partner{}, ErrPartnerNotFound
	}
	return view(p), err
}

func (s *service) ListPartners(ctx context.Context) ([]Partner, error) {
	ps, err := s.deps.Store.ListPartners(ctx)
	out := make([]Partner, 0, len(ps))
	for _, p := range ps {
		out = append(out, view(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}
