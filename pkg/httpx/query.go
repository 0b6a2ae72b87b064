package httpx

import (
	"net/http"
	"net/url"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// ErrBadQuery refuses a query string that does not parse: a bad %-escape
// or a ';' separator. r.URL.Query() drops such a pair silently and the
// request is answered as if the parameter had not been sent: a postback's
// occurred_at dropped that way became the time it arrived.
var ErrBadQuery = errs.New(errs.Invalid, "invalid_query", "the query string is malformed (a bad %-escape or a ';')")

// Query parses r's query string, refusing a malformed one (ErrBadQuery).
func Query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, ErrBadQuery
	}
	return q, nil
}

// StrictQuery answers 400 invalid_query to a request whose query string is
// malformed, before next sees it, so that no route answers as if a
// parameter it dropped had not been sent. Routes for visitors that must
// answer whatever they are sent (the redirect's /c/{code}) do without it.
func StrictQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			WriteError(w, r, nil, ErrBadQuery)
			return
		}
		next.ServeHTTP(w, r)
	})
}
