package adapter

import (
	"net/url"
	"sort"
	"strings"
)

// TokenPlaceholder stands for the postback token in a postback URL built
// without it: the service keeps only the token's digest, so it cannot
// write the token itself unless the caller supplies it.
const TokenPlaceholder = "<your postback token>"

// PostbackURL is what a publisher enters in a network's UI to have its
// conversions sent to linkcredit.
type PostbackURL struct {
	// Method is how the network calls: GET for URL macros, POST for a JSON
	// body.
	Method string `json:"method"`
	// URL is the URL to paste, macros and all. Macros are written as the
	// network spells them, not escaped: the network replaces them (and
	// escapes the values) before it calls.
	URL string `json:"url"`
	// ContentType is the body's type for POST deliveries.
	ContentType string `json:"content_type,omitempty"`
	// TokenIncluded says whether URL holds the token or TokenPlaceholder.
	TokenIncluded bool `json:"token_included"`
	// ClickIDParameter is the parameter of the network's tracking links
	// that carries linkcredit's click id: a link's destination sets it to
	// {click_id} (for example ...&clickref={click_id}), and the network
	// returns it in the postback.
	ClickIDParameter string `json:"click_id_parameter,omitempty"`
	// Parameters are the URL's parameters after the token, in order.
	Parameters []URLParameter `json:"parameters"`
	// MacrosToFill: the mapping names no network's macros (the standard
	// adapter, for a network without a preset), so each parameter's value
	// is a placeholder, {order_id} and so on, to replace with the
	// network's own macro for that value.
	MacrosToFill bool `json:"macros_to_fill,omitempty"`
}

// URLParameter is one parameter of a postback URL.
type URLParameter struct {
	Field     string `json:"field,omitempty"` // the canonical field it fills; empty for a network's required extra
	Parameter string `json:"parameter"`
	Macro     string `json:"macro"`
}

// PostbackURL builds the postback URL for partner on the service at base
// (its public URL, no trailing slash needed). token is the partner's
// postback token when the caller knows it, else "" for TokenPlaceholder.
// m must be resolved. For a JSON delivery the URL carries only the token:
// the network chooses the body.
func (m Mapping) PostbackURL(base, partner, token string) PostbackURL {
	out := PostbackURL{Method: "GET", ClickIDParameter: m.ClickParam, TokenIncluded: token != "", Parameters: []URLParameter{}}
	var b strings.Builder
	b.WriteString(strings.TrimRight(base, "/"))
	b.WriteString("/v1/postback/")
	b.WriteString(url.PathEscape(partner))
	b.WriteString("?token=")
	if token != "" {
		b.WriteString(url.QueryEscape(token))
	} else {
		b.WriteString(TokenPlaceholder)
	}
	if m.Delivery == DeliveryJSON {
		out.Method, out.ContentType = "POST", "application/json"
		out.URL = b.String()
		return out
	}
	// Without any macro, the network's syntax is not known: every mapped
	// field gets a placeholder to replace, so the URL still says which
	// parameter carries what (it was the token alone).
	fill := len(m.Macros) == 0
	for _, field := range canonicalFields {
		param, macro := m.Fields[field], m.Macros[field]
		if param == "" || macro == "" && !fill {
			continue
		}
		if macro == "" {
			macro = "{" + field + "}"
		}
		out.Parameters = append(out.Parameters, URLParameter{Field: field, Parameter: param, Macro: macro})
	}
	out.MacrosToFill = fill && len(out.Parameters) > 0
	var extras []string
	for param := range m.ExtraParams {
		extras = append(extras, param)
	}
	sort.Strings(extras)
	for _, param := range extras {
		out.Parameters = append(out.Parameters, URLParameter{Parameter: param, Macro: m.ExtraParams[param]})
	}
	for _, p := range out.Parameters {
		b.WriteString("&")
		b.WriteString(url.QueryEscape(p.Parameter))
		b.WriteString("=")
		b.WriteString(p.Macro)
	}
	out.URL = b.String()
	return out
}
