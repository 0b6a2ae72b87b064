package httptransport

import (
	"bufio"
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/redirect/internal/botcheck"
	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

// Limits on request bodies.
const (
	MaxLinkBody   = 64 << 10
	MaxImportBody = 256 << 20
)

// Options configure the transport.
type Options struct {
	Tokens         *httpx.Tokens
	TrustedProxies []netip.Prefix // whose X-Forwarded-For is believed
	Logger         *slog.Logger
	// Stall bounds how long a link API request waits on a PostgreSQL that
	// stopped answering before it is answered 503 (httpx.StallGuard); the
	// zero value guards nothing. Clicks are never guarded: they do not
	// wait on PostgreSQL, and a goroutine a click would cost the hot path.
	Stall httpx.StallGuard
}

// Register adds the service's routes to rt:
//
//	GET  /c/{code}           302 to the link's destination (HEAD too, unbilled);
//	                         /c/{code}/ the same, anything else under /c/ 404
//	PUT  /v1/links/{code}    create or replace a link        (links scope)
//	GET  /v1/links/{code}    read a link                     (links scope)
//	GET  /v1/links           ?partner=&cursor=&limit=        (links scope)
//	POST /v1/links:import    NDJSON or CSV feed              (links scope)
func Register(rt *httpx.Router, e redirect.Endpoints, o Options) {
	clickOpts := []kithttp.ServerOption{
		kithttp.ServerBefore(rememberAccept),
		kithttp.ServerErrorEncoder(clickErrorEncoder(o.Logger)),
	}
	apiOpts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(httpx.KitErrorEncoder(o.Logger))}
	// Every route but the click refuses a malformed query string; a
	// visitor's click is answered whatever it carries (decodeClick).
	admin := func(h http.Handler) http.Handler {
		return o.Stall.Wrap(o.Tokens.Require(httpx.ScopeLinks, httpx.StrictSingleQuery(h)))
	}

	hint := newProxyHint(o.TrustedProxies, o.Logger)
	click := kithttp.NewServer(e.Click, decodeClick(o.TrustedProxies, hint), encodeClick, clickOpts...)
	rt.Handle("GET /c/{code}", click)
	// A mail client or a CMS may add a slash: a code holds none, so the
	// link is the same. Anything else under /c/ is a link that does not
	// exist, answered as one (an HTML page for a browser), not with the
	// API's JSON 404.
	rt.Handle("GET /c/{code}/{$}", click)
	noLink := kithttp.NewServer(func(context.Context, any) (any, error) { return nil, redirect.ErrLinkNotFound },
		func(context.Context, *http.Request) (any, error) { return nil, nil }, encodeClick, clickOpts...)
	rt.Handle("GET /c/", noLink)
	rt.Handle("GET /c", noLink)
	// /c//code, /c/./code: never routed (the router does not clean a path
	// into a redirect), answered as a link that does not exist too.
	rt.UncleanUnder("/c/", noLink)
	rt.Handle("PUT /v1/links/{code}", admin(httpx.LimitBody(MaxLinkBody,
		kithttp.NewServer(e.PutLink, decodePutLink, encodePutLink, apiOpts...))))
	rt.Handle("GET /v1/links/{code}", admin(kithttp.NewServer(e.GetLink, decodeGetLink, httpx.KitEncodeJSON(http.StatusOK), apiOpts...)))
	rt.Handle("GET /v1/links", admin(kithttp.NewServer(e.ListLinks, decodeListLinks, httpx.KitEncodeJSON(http.StatusOK), apiOpts...)))
	rt.Handle("POST /v1/links:import", admin(httpx.LimitBody(MaxImportBody,
		kithttp.NewServer(e.ImportLinks, decodeImport, httpx.KitEncodeJSON(http.StatusOK), apiOpts...))))
}

func decodeClick(trusted []netip.Prefix, hint *proxyHint) kithttp.DecodeRequestFunc {
	return func(_ context.Context, r *http.Request) (any, error) {
		hint.observe(r)
		req := &redirect.ClickRequest{
			Code:      r.PathValue("code"),
			Head:      r.Method == http.MethodHead,
			Prefetch:  botcheck.IsPrefetch(r.Header),
			IP:        httpx.ClientIP(r, trusted),
			UserAgent: r.Header.Get("User-Agent"),
			Referer:   r.Header.Get("Referer"),
		}
		clickParams(r.URL.RawQuery, req)
		return req, nil
	}
}

// maxRawTag is the longest query value that can decode to a valid tag:
// every byte percent-encoded. A longer one is dropped without decoding, so
// a hostile value costs a length check, not a copy.
const maxRawTag = 3 * events.MaxTagBytes

// clickParams reads the query parameters a click records, without building
// url.Values: the first non-empty value of each is the visitor's, as with
// Query().Get skipping empty ones. One that cannot be a tag (too long, or
// not decodable) leaves the field empty and is not replaced by a later
// one; Click drops any other value that is not a tag.
func clickParams(rawQuery string, req *redirect.ClickRequest) {
	var taken uint8 // one bit per field: a first non-empty value was seen
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		key, value, _ := strings.Cut(pair, "=")
		var dst *string
		var bit uint8
		switch key {
		case "utm_source":
			dst, bit = &req.UTMSource, 1<<0
		case "utm_medium":
			dst, bit = &req.UTMMedium, 1<<1
		case "utm_campaign":
			dst, bit = &req.UTMCampaign, 1<<2
		case "utm_term":
			dst, bit = &req.UTMTerm, 1<<3
		case "utm_content":
			dst, bit = &req.UTMContent, 1<<4
		case "placement":
			dst, bit = &req.Placement, 1<<5
		case "no-track":
			req.NoTrack = true
			continue
		default:
			continue
		}
		if taken&bit != 0 || value == "" {
			continue
		}
		taken |= bit
		if len(value) > maxRawTag {
			continue
		}
		if v, err := url.QueryUnescape(value); err == nil {
			*dst = v
		}
	}
}

// Header values shared by every redirect; net/http never modifies them.
var (
	noStore       = []string{"no-store"}
	referrerRules = []string{"no-referrer-when-downgrade"}
)

// encodeClick sets headers by their canonical keys directly: this is the
// hot path, and Header.Set would canonicalise and allocate each time.
func encodeClick(_ context.Context, w http.ResponseWriter, resp any) error {
	c := resp.(redirect.ClickResponse)
	h := w.Header()
	vals := [2]string{c.Location, c.ClickID}
	v := vals[:]
	h["Location"] = v[0:1:1]
	h["Cache-Control"] = noStore
	h["Referrer-Policy"] = referrerRules
	if c.ClickID != "" {
		h["X-Click-Id"] = v[1:2:2]
	}
	w.WriteHeader(http.StatusFound)
	return nil
}

type wantsJSONKey struct{}

// rememberAccept notes, for clickErrorEncoder, an API client's request
// for JSON errors (prefersJSON). A browser's click (the hot path) adds
// nothing to the context, and its Accept header is not parsed: no range
// in it names application/json or application/* (mayPreferJSON).
func rememberAccept(ctx context.Context, r *http.Request) context.Context {
	accept := r.Header["Accept"] // canonical key: no Get's canonicalising
	if !mayPreferJSON(accept) || !prefersJSON(accept) {
		return ctx
	}
	return context.WithValue(ctx, wantsJSONKey{}, true)
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}h1{font-size:1.5rem}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Message}}</p></main></body></html>
`))

// clickErrorEncoder answers visitors in HTML and API clients (an Accept
// that prefers application/json: prefersJSON) in the contract's JSON.
func clickErrorEncoder(logger *slog.Logger) kithttp.ErrorEncoder {
	return func(ctx context.Context, err error, w http.ResponseWriter) {
		w.Header().Set("Cache-Control", "no-store")
		status := errs.HTTPStatus(err)
		if status == http.StatusTooManyRequests {
			// The limits count clicks a minute: the same wait for a
			// browser and an API client.
			w.Header().Set("Retry-After", "60")
		}
		if wantsJSON, _ := ctx.Value(wantsJSONKey{}).(bool); wantsJSON {
			httpx.WriteErrorCtx(ctx, w, logger, err)
			return
		}
		page := struct{ Title, Message string }{"Link not found", "This course link does not exist or is no longer active."}
		switch status {
		case http.StatusTooManyRequests:
			page = struct{ Title, Message string }{"Too many requests", "Please wait a moment and try the link again."}
		case http.StatusServiceUnavailable:
			page = struct{ Title, Message string }{"Temporarily unavailable", "Please try the link again in a few seconds."}
			w.Header().Set("Retry-After", "5")
		case http.StatusNotFound:
		default:
			page = struct{ Title, Message string }{"Something went wrong", "Please try again later."}
			logger.ErrorContext(ctx, "click failed", "error", err.Error())
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		// The page is static: it needs its inline style and nothing else.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		_ = errorPage.Execute(w, page)
	}
}

// linkBody is the body of PUT /v1/links/{code}.
type linkBody struct {
	Code        *string  `json:"code"`
	Partner     string   `json:"partner"`
	CourseID    string   `json:"course_id"`
	Title       string   `json:"title"`
	Destination string   `json:"destination"`
	Active      *bool    `json:"active"`
	Placements  []string `json:"placements"`
}

func decodePutLink(_ context.Context, r *http.Request) (any, error) {
	code := r.PathValue("code")
	var b linkBody
	if err := decodeJSON(r, MaxLinkBody, &b); err != nil {
		return nil, err
	}
	if b.Code != nil && *b.Code != code {
		return nil, errs.Fields{{Field: "code", Message: "differs from the code in the path"}}.Err("invalid_link")
	}
	l := link.Link{Code: code, Partner: b.Partner, CourseID: b.CourseID, Title: b.Title, Destination: b.Destination, Active: true,
		Placements: b.Placements}
	if b.Active != nil {
		l.Active = *b.Active
	}
	return l, nil
}

func encodePutLink(_ context.Context, w http.ResponseWriter, resp any) error {
	r := resp.(redirect.PutLinkResponse)
	status := http.StatusOK
	if r.Created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, r.Link)
	return nil
}

func decodeGetLink(_ context.Context, r *http.Request) (any, error) { return r.PathValue("code"), nil }

func decodeListLinks(_ context.Context, r *http.Request) (any, error) {
	q, err := httpx.Query(r)
	if err != nil {
		return nil, err
	}
	lq := redirect.ListQuery{Partner: q.Get("partner"), Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return nil, errs.Fields{{Field: "limit", Message: "must be a number between 1 and 1000"}}.Err("invalid_query")
		}
		lq.Limit = n
	}
	return lq, nil
}

func decodeImport(_ context.Context, r *http.Request) (any, error) {
	if r.ContentLength > MaxImportBody { // refused before a row is imported
		return nil, errs.Newf(errs.TooLarge, "body_too_large", "the feed is larger than %d bytes", MaxImportBody)
	}
	q, err := httpx.Query(r)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(feedBody{r.Body}, 64<<10)
	peek, _ := br.Peek(512)
	if !isText(peek) {
		return nil, errs.New(errs.Invalid, "unreadable_feed", "the feed is not UTF-8 text: send NDJSON or CSV, uncompressed")
	}
	first := byte(0)
	for _, c := range peek {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != 0xEF && c != 0xBB && c != 0xBF {
			first = c
			break
		}
	}
	if first == 0 {
		return nil, errs.New(errs.Invalid, "empty_feed", "the feed is empty: send NDJSON (one link per line) or CSV with a header row")
	}
	format, err := feed.Detect(r.Header.Get("Content-Type"), q.Get("format"), first)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, "unknown_format", err.Error(), err)
	}
	rows, err := feed.NewReader(format, br)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, "unreadable_feed", err.Error(), err)
	}
	return rows, nil
}
