package httpx

import (
	"net/http"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Router is an http.ServeMux whose own answers (unknown route, wrong
// method) are JSON errors like every other answer.
type Router struct{ *http.ServeMux }

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{http.NewServeMux()} }

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := rt.Handler(r)
	if pattern != "" {
		rt.ServeMux.ServeHTTP(w, r)
		return
	}
	// No route matched: let the mux decide 404 or 405 (it sets Allow),
	// then answer in JSON instead of its plain text.
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if probe.status == http.StatusMethodNotAllowed {
		WriteJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: "method_not_allowed", Message: r.Method + " is not allowed here"}})
		return
	}
	if probe.status >= 300 && probe.status < 400 { // the mux's own path cleaning
		for k, v := range probe.header {
			w.Header()[k] = v
		}
		w.WriteHeader(probe.status)
		return
	}
	WriteError(w, r, nil, errs.New(errs.NotFound, "not_found", "no such route: "+r.URL.Path))
}

type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
