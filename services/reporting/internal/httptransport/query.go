package httptransport

import (
	"net/http"
	"net/url"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// strictQuery refuses a query string that does not parse (a bad escape,
// a ';' separator) with 400, where r.URL.Query() would silently drop the
// pair and answer as if it had not been sent.
func strictQuery(fail func(http.ResponseWriter, *http.Request, error), next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			fail(w, r, errs.New(errs.Invalid, "invalid_query", "the query string is malformed (a bad %-escape or a ';')"))
			return
		}
		next(w, r)
	}
}
