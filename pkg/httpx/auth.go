package httpx

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Scopes a token may hold. ScopeAll grants every scope.
const (
	ScopeAll      = "*"
	ScopeLinks    = "links"    // manage course links
	ScopePartners = "partners" // manage partners and their secrets
	ScopeFinance  = "finance"  // reports, FX rates, payouts, dashboard
)

// Tokens maps bearer tokens to scopes. Only SHA-256 digests are kept, and
// lookups compare every digest in constant time.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	digest [32]byte
	scopes []string
}

// MinTokenLength is the shortest bearer token a service accepts
// (contract v1.1), in characters, not bytes: a guessable token guards
// money.
const MinTokenLength = 32

// ParseTokens builds Tokens from the admin token (every scope) and a spec
// "token:scope|scope,token2:scope" for narrower tokens, each scope one of
// links, partners, finance or * (every scope). A token that is
// not UTF-8 or is shorter than MinTokenLength characters is refused; the
// error names ADMIN_TOKEN or API_TOKENS, never the token.
func ParseTokens(admin, spec string) (*Tokens, error) {
	t := &Tokens{}
	if admin != "" {
		if problem := tokenProblem(admin); problem != "" {
			return nil, fmt.Errorf("config: ADMIN_TOKEN %s", problem)
		}
		t.Add(admin, ScopeAll)
	}
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		tok, scopes, ok := strings.Cut(item, ":")
		if !ok || tok == "" || scopes == "" {
			return nil, errors.New("config: API_TOKENS entries are token:scope|scope")
		}
		if problem := tokenProblem(tok); problem != "" {
			return nil, fmt.Errorf("config: API_TOKENS entry %d: a token %s", i+1, problem)
		}
		list := strings.Split(scopes, "|")
		for _, s := range list {
			if !slices.Contains(knownScopes, s) {
				// A misspelt scope would leave a token that opens
				// nothing, found out only at its first 403.
				return nil, fmt.Errorf("config: API_TOKENS entry %d: unknown scope %q (scopes: %s)", i+1, s, strings.Join(knownScopes, ", "))
			}
		}
		t.Add(tok, list...)
	}
	return t, nil
}

// knownScopes are the scopes an API_TOKENS entry may name: every service
// reads the same list, so each knows the scopes of the others.
var knownScopes = []string{ScopeLinks, ScopePartners, ScopeFinance, ScopeAll}

// tokenProblem says what is wrong with a configured token ("" when
// nothing), without repeating it. Its length is counted in characters,
// as the contract states it: 16 'é' are 32 bytes but 16 characters.
// Bytes that are not UTF-8 have no character count, so they are refused
// rather than counted one way or the other.
func tokenProblem(tok string) string {
	switch {
	case !utf8.ValidString(tok):
		return "must be valid UTF-8 text"
	case utf8.RuneCountInString(tok) < MinTokenLength:
		return fmt.Sprintf("must be at least %d characters", MinTokenLength)
	}
	return ""
}

// Add registers a token with its scopes.
func (t *Tokens) Add(token string, scopes ...string) {
	t.entries = append(t.entries, tokenEntry{digest: sha256.Sum256([]byte(token)), scopes: scopes})
}

// Binding is what a session keeps of the token that opened it, so that
// each use of the session can ask Binds whether the token is still
// configured: taking a token out of the configuration then ends its
// sessions too. It is an HMAC of the token's digest keyed by the session's
// secret id (which a session store keeps only a digest of), so a store of
// sessions says nothing about any token without the cookie.
func Binding(sessionKey []byte, token string) [32]byte {
	return bindingOf(sessionKey, sha256.Sum256([]byte(token)))
}

func bindingOf(sessionKey []byte, digest [32]byte) [32]byte {
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte("linkcredit session binding\x00"))
	m.Write(digest[:])
	var b [32]byte
	m.Sum(b[:0])
	return b
}

// Binds reports whether b is the binding, for the session keyed by
// sessionKey, of a configured token that holds scope. Every entry is
// compared in constant time, and, as for a bearer token, a token listed
// twice has the scopes of its last entry.
func (t *Tokens) Binds(sessionKey []byte, b [32]byte, scope string) bool {
	var found []string
	for _, e := range t.entries {
		want := bindingOf(sessionKey, e.digest)
		if subtle.ConstantTimeCompare(b[:], want[:]) == 1 {
			found = e.scopes
		}
	}
	return holds(found, scope)
}

func holds(scopes []string, scope string) bool {
	for _, s := range scopes {
		if s == scope || s == ScopeAll {
			return true
		}
	}
	return false
}

// scopes returns the token's scopes, or nil when it is unknown. Every entry
// is compared, so timing does not reveal which one matched.
func (t *Tokens) scopes(token string) []string {
	d := sha256.Sum256([]byte(token))
	var found []string
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			found = e.scopes
		}
	}
	return found
}

type principalKey struct{}

// Require lets a request through only with a bearer token holding scope:
// 401 without a valid token, 403 with a token that lacks the scope.
//
// Every answer, refusal or not, is Cache-Control: no-store: what a token
// reads (links, partners, finance figures) is for its holder, and no
// cache on the way may keep it.
func (t *Tokens) Require(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := t.Authorize(r, scope); err != nil {
			if errors.Is(err, errs.Unauthenticated) {
				Challenge(w)
			}
			WriteError(w, r, nil, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, scope)))
	})
}

// Challenge names the scheme that would authenticate, as RFC 9110
// requires of every 401: a bearer token. Browsers do not prompt for it.
func Challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="linkcredit"`)
}

// BearerToken returns the token of r's "Authorization: Bearer <token>"
// header, and false when there is none. The scheme is matched in any case
// (RFC 9110 §11.1: an auth-scheme is case-insensitive); it must be followed
// by a space, and spaces around the token are dropped.
func BearerToken(r *http.Request) (string, bool) {
	const scheme = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	token := strings.TrimSpace(h[len(scheme):])
	return token, token != ""
}

// Authorize checks r's bearer token for scope.
func (t *Tokens) Authorize(r *http.Request, scope string) error {
	token, ok := BearerToken(r)
	if !ok {
		return errs.New(errs.Unauthenticated, "missing_token", "send Authorization: Bearer <token>")
	}
	scopes := t.scopes(token)
	if scopes == nil {
		return errs.New(errs.Unauthenticated, "invalid_token", "the bearer token is not valid")
	}
	if holds(scopes, scope) {
		return nil
	}
	return errs.Newf(errs.Forbidden, "insufficient_scope", "the token lacks the %q scope", scope)
}
