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
type Router struct{ *http.ServeMux }

// NewRouter returns a router with only its catch-all route.
func NewRouter() *Router {
	rt := &Router{http.NewServeMux()}
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
		WriteError(w, r, nil, errs.New(errs.NotFound, "not_found", "no route matches this path"))
		return
	}
	rt.ServeMux.ServeHTTP(w, r)
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
