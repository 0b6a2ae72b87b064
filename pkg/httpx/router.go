package httpx

import (
	"net/http"
	"path"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Router is an http.ServeMux whose own answers (unknown route, wrong
// method) are JSON errors like every other answer. Requests are routed
// once; only a request no route takes pays for working out 404 or 405.
type Router struct {
	*http.ServeMux
	unclean []uncleanRoute
}

type uncleanRoute struct {
	prefix string
	h      http.Handler
}

// NewRouter returns a router with only its catch-all route.
func NewRouter() *Router {
	rt := &Router{ServeMux: http.NewServeMux()}
	rt.ServeMux.HandleFunc("/", rt.unmatched)
	return rt
}

// ServeHTTP routes r. A path not in its clean form ("//", "/./", "/../")
// is 404: http.ServeMux would answer it with a redirect to the clean path,
// and /c//evil.com redirected to /c/evil.com, a redirect no link named.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The escaped path, as ServeMux matches it: %2F inside a segment is
	// the segment's, not a separator.
	if p := r.URL.EscapedPath(); p != cleanPath(p) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			for _, u := range rt.unclean {
				if strings.HasPrefix(p, u.prefix) {
					u.h.ServeHTTP(w, r)
					return
				}
			}
		}
		WriteError(w, r, nil, errs.New(errs.NotFound, "not_found", "no route matches this path"))
		return
	}
	rt.ServeMux.ServeHTTP(w, r)
}

// UncleanUnder has h answer a GET or HEAD of a path under prefix that is
// not in its clean form, which the router answers 404 without routing it
// (ServeHTTP): the redirect's page for a link that does not exist, for a
// visitor's /c//code, where the router's own 404 is JSON.
func (rt *Router) UncleanUnder(prefix string, h http.Handler) {
	rt.unclean = append(rt.unclean, uncleanRoute{prefix, h})
}

// cleanPath is p as http.ServeMux cleans it: rooted, without "//", "."
// or ".." elements, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean
}

var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unmatched answers requests that no registered route takes: 405 with
// Allow when the path exists for other methods, else 404.
func (rt *Router) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := rt.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: "method_not_allowed", Message: "this method is not allowed here"}})
		return
	}
	WriteError(w, r, nil, errs.New(errs.NotFound, "not_found", "no route matches this path"))
}
