package httpx

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

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

// RepeatedParameter is a 400 repeated_parameter for the first parameter
// of q (by name) given more than once with different values, or nil: a
// handler reading q.Get would silently take the first, and which the
// client meant is not defined (a statement asked for with two months
// answered the first). The same value twice is taken.
func RepeatedParameter(q url.Values) error {
	for _, name := range slices.Sorted(maps.Keys(q)) { // the same error every time
		vals := q[name]
		if len(vals) < 2 {
			continue
		}
		for _, v := range vals[1:] {
			if v != vals[0] {
				return errs.Newf(errs.Invalid, "repeated_parameter",
					"%s is given more than once with different values: which is meant is not defined", strconv.Quote(shownName(name)))
			}
		}
	}
	return nil
}

// StrictSingleQuery is StrictQuery that also refuses a parameter given
// twice with different values (RepeatedParameter), for routes that read
// one value of each (every admin and finance route).
func StrictSingleQuery(next http.Handler) http.Handler {
	return StrictQuery(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery) // StrictQuery checked it
		if err := RepeatedParameter(q); err != nil {
			WriteError(w, r, nil, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// UnknownParameters adds to f each parameter of q that is not one of
// names ("unknown parameter"), in name order, its name cut to 40 bytes
// where it is shown: a route that ignored a misspelt parameter would
// answer as if it had not been sent (a statement for the running month
// asked for with monht=).
func UnknownParameters(f *errs.Fields, q url.Values, names ...string) {
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if slices.Contains(names, name) {
			continue
		}
		shown := shownName(name)
		f.Add(shown, "unknown parameter %s", strconv.Quote(shown))
	}
}

// shownName is a parameter's name as an error shows it: its first 40
// bytes, so that a hostile name is not echoed whole.
func shownName(name string) string {
	if len(name) > 40 {
		return name[:40]
	}
	return name
}

// OnlyParameters is a 422 invalid_query naming each parameter of q that
// is not one of names (UnknownParameters), or nil.
func OnlyParameters(q url.Values, names ...string) error {
	var f errs.Fields
	UnknownParameters(&f, q, names...)
	return f.Err("invalid_query")
}
