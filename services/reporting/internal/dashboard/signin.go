package dashboard

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/reporting/internal/session"
)

// Cookie names. A browser keeps a __Host- cookie only when it is Secure,
// host-only and for Path=/, so no other host (a sibling subdomain) and no
// plain-HTTP page can plant or overwrite it. Every sign-in sets it, on
// plain HTTP over loopback too (the local stack at http://127.0.0.1:8082):
// Chromium and curl (checked) count loopback as a secure origin and keep a
// Secure cookie from it. Not every browser does (Safari), so on plain
// loopback the same session also goes in LoopbackCookieName: without
// Secure and without the prefix, read only on loopback (plainLoopback).
const (
	CookieName         = "__Host-linkcredit_session"
	LoopbackCookieName = "linkcredit_session"
)

// legacyCookie held the raw bearer token before sessions (issue 12): a
// browser that still has it is told to drop it.
const legacyCookie = "linkcredit_token"

func forgetLegacy(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(legacyCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: legacyCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
}

// maxFormBody bounds the sign-in and sign-out forms.
const maxFormBody = 4 << 10

var (
	errCrossOrigin = errs.New(errs.Forbidden, "cross_origin", "this form may only be sent from the dashboard's own pages")
	errCSRF        = errs.New(errs.Forbidden, "invalid_csrf_token", "the sign-out form is stale or was not sent by the dashboard; reload the page and try again")
	errSignedOut   = errs.New(errs.Unauthenticated, "session_expired", "sign in again: the session has ended")
)

// plainLoopback reports whether r came over plain HTTP to a loopback
// host (http://127.0.0.1:8082, http://localhost:8082: make run, a docker
// compose port or a port-forward): the one case whose cookie is not
// Secure. The Host decides, not the peer: a browser names a loopback host
// only when it talks to its own machine, and no other site can set a
// cookie for it.
func plainLoopback(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// setSessionCookies sets the cookies that carry id, or clears them (id
// nil): the __Host- cookie, and on plain loopback the unprefixed one too.
func setSessionCookies(w http.ResponseWriter, r *http.Request, id *session.ID, maxAge time.Duration) {
	names := []string{CookieName}
	if plainLoopback(r) {
		names = append(names, LoopbackCookieName)
	}
	for _, name := range names {
		c := &http.Cookie{Name: name, Path: "/", HttpOnly: true, Secure: name == CookieName, SameSite: http.SameSiteStrictMode}
		if id == nil {
			c.MaxAge = -1
		} else {
			c.Value = id.String()
			c.MaxAge = int(maxAge.Seconds())
		}
		http.SetCookie(w, c)
	}
}

// cookieID is the session id r's cookie carries: the __Host- cookie, or
// on plain loopback the unprefixed one. ok is false without a well-formed
// id.
func cookieID(r *http.Request) (session.ID, bool) {
	names := []string{CookieName}
	if plainLoopback(r) {
		names = append(names, LoopbackCookieName)
	}
	for _, name := range names {
		for _, c := range r.CookiesNamed(name) {
			if id, ok := session.ParseID(c.Value); ok {
				return id, true
			}
		}
	}
	return session.ID{}, false
}

// sameOrigin refuses a POST a browser sent from another origin: Origin,
// when present, must name this host (http or https), and Sec-Fetch-Site,
// when present, must say same-origin or none. Browsers send at least one
// on every POST; a client that sends neither is not a browser, so no
// cookie of a victim's rides along.
func sameOrigin(r *http.Request) error {
	origins := r.Header.Values("Origin")
	if len(origins) > 1 {
		return errCrossOrigin
	}
	if len(origins) == 1 {
		u, err := url.Parse(origins[0])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || !strings.EqualFold(u.Host, r.Host) {
			return errCrossOrigin
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	default:
		return errCrossOrigin
	}
}

// readForm reads an application/x-www-form-urlencoded body of at most
// limit bytes. Another type, a longer body or a malformed encoding is a
// 4xx; each field in want may appear at most once.
func readForm(r *http.Request, limit int64, want ...string) (url.Values, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, errs.New(errs.Invalid, "malformed_form", "send the form as application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, errs.New(errs.Invalid, "malformed_form", "the form must be UTF-8")
	}
	body, err := httpx.ReadBody(r, limit)
	if err != nil {
		return nil, err
	}
	return parseForm(string(body), want...)
}

// parseForm decodes a URL-encoded form body; a malformed escape, a
// semicolon separator or a repeated wanted field is errs.Invalid.
func parseForm(body string, want ...string) (url.Values, error) {
	v, err := url.ParseQuery(body)
	if err != nil {
		return nil, errs.New(errs.Invalid, "malformed_form", "the form's encoding is malformed")
	}
	for _, f := range want {
		if len(v[f]) > 1 {
			return nil, errs.Newf(errs.Invalid, "malformed_form", "the form holds %q more than once", f)
		}
	}
	return v, nil
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // refusals too
	if err := sameOrigin(r); err != nil {
		httpx.WriteError(w, r, h.logger, err)
		return
	}
	client, now := clientKey(r, h.trusted), h.now()
	if ok, wait := h.throttle.take(client, now); !ok {
		h.tooMany(w, r, wait)
		return
	}
	form, err := readForm(r, maxFormBody, "token")
	token := strings.TrimSpace(form.Get("token"))
	if err == nil {
		err = h.checkToken(r, token)
	}
	if err != nil {
		h.refuse(w, r, err) // the try it took stays taken
		return
	}
	h.throttle.refund(client, now)
	tokenKey := sha256.Sum256([]byte(token))
	if ok, wait := h.signIns.take(tokenKey, now); !ok {
		h.tooManyWithToken(w, r, wait)
		return
	}
	if old, ok := cookieID(r); ok { // a fresh id on every sign-in: no fixation
		if err := h.sessions.End(r.Context(), old); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	id, _, err := h.sessions.Start(r.Context(), httpx.ScopeFinance, func(id session.ID) [32]byte { return httpx.Binding(id[:], token) })
	if err != nil {
		h.signIns.refund(tokenKey, now) // no session was opened
		h.refuse(w, r, err)
		return
	}
	setSessionCookies(w, r, &id, h.sessions.MaxAge())
	forgetLegacy(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// checkToken lets in a token with the finance scope (an all-scope token
// has it); the session it opens is finance-only whatever else it holds.
func (h *Handler) checkToken(r *http.Request, token string) error {
	if token == "" {
		return errs.New(errs.Unauthenticated, "missing_token", "enter a token with the finance scope")
	}
	probe := r.Clone(r.Context())
	probe.Header = http.Header{"Authorization": {"Bearer " + token}}
	return h.tokens.Authorize(probe, httpx.ScopeFinance)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // refusals too
	if err := sameOrigin(r); err != nil {
		httpx.WriteError(w, r, h.logger, err)
		return
	}
	form, err := readForm(r, maxFormBody, "csrf")
	if err != nil {
		httpx.WriteError(w, r, h.logger, err)
		return
	}
	if id, ok := cookieID(r); ok {
		if !id.CheckCSRF(form.Get("csrf")) {
			httpx.WriteError(w, r, h.logger, errCSRF)
			return
		}
		if err := h.sessions.End(r.Context(), id); err != nil {
			httpx.WriteError(w, r, h.logger, err)
			return
		}
	}
	setSessionCookies(w, r, nil, 0)
	forgetLegacy(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// authorize lets r see the dashboard: a bearer token with the finance
// scope (API clients), or a live session (browsers). csrf is the token
// the session's forms carry ("" for a bearer token).
func (h *Handler) authorize(r *http.Request) (csrf string, err error) {
	if r.Header.Get("Authorization") != "" {
		return "", h.tokens.Authorize(r, httpx.ScopeFinance)
	}
	id, ok := cookieID(r)
	if !ok {
		return "", errs.New(errs.Unauthenticated, "missing_session", "sign in with a finance token")
	}
	s, err := h.sessions.Resume(r.Context(), id)
	if errors.Is(err, session.ErrNotFound) {
		return "", errSignedOut
	}
	if err != nil {
		return "", err
	}
	if s.Scope != httpx.ScopeFinance {
		return "", errs.New(errs.Forbidden, "insufficient_scope", "this session cannot see finance reports")
	}
	if !h.tokens.Binds(id[:], s.Binding, httpx.ScopeFinance) {
		// The token that opened it was taken out of the configuration (or
		// lost its finance scope): its sessions end with it.
		if err := h.sessions.End(r.Context(), id); err != nil {
			return "", err
		}
		return "", errSignedOut
	}
	return id.CSRFToken(), nil
}

// refuse answers a failed sign-in: the form again, with the problem, for
// a browser; the contract's JSON error for anything else.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if !wantsHTML(r) || errs.HTTPStatus(err) >= 500 {
		challenge(w, errs.HTTPStatus(err))
		httpx.WriteError(w, r, h.logger, err)
		return
	}
	problem := "That token does not give access to finance reports."
	if !errors.Is(err, errs.Unauthenticated) && !errors.Is(err, errs.Forbidden) {
		_, problem = errs.Public(err)
	}
	h.login(w, r, errs.HTTPStatus(err), problem)
}

// tooMany answers a sign-in from a client over its failures: 429 with
// Retry-After.
func (h *Handler) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	h.throttled(w, r, wait, "too_many_sign_in_attempts", "too many failed sign-in attempts from this address")
}

// tooManyWithToken answers a sign-in with a token over signInsPerToken.
func (h *Handler) tooManyWithToken(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	h.throttled(w, r, wait, "too_many_sign_ins", "too many sign-ins with this token")
}

func (h *Handler) throttled(w http.ResponseWriter, r *http.Request, wait time.Duration, code, why string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
	msg := fmt.Sprintf("%s; try again in %d minutes", why, (max(secs, 1)+59)/60)
	if wantsHTML(r) {
		h.login(w, r, http.StatusTooManyRequests, strings.ToUpper(msg[:1])+msg[1:]+".")
		return
	}
	httpx.WriteJSON(w, http.StatusTooManyRequests, httpx.ErrorBody{Error: httpx.ErrorDetail{Code: code, Message: msg}})
}

func wantsHTML(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }

// SweepSessions removes expired sessions every interval until ctx ends,
// so the table holds only live ones.
func SweepSessions(ctx context.Context, m *session.Manager, every time.Duration, logger *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "sweeping dashboard sessions failed; will retry", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
