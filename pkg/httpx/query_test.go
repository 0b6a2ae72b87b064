package httpx

import (
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestRepeatedParameter(t *testing.T) {
	for _, tt := range []struct {
		q    url.Values
		want string // "" none; else the name the error quotes
	}{
		{url.Values{}, ""},
		{url.Values{"month": nil}, ""},
		{url.Values{"month": {"2026-11"}}, ""},
		{url.Values{"month": {"2026-11", "2026-11"}}, ""},
		{url.Values{"month": {"2026-11", "2026-12"}}, `"month"`},
		{url.Values{"b": {"1", "2"}, "a": {"1", "2"}}, `"a"`},
	} {
		err := RepeatedParameter(tt.q)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.q, err)
		case tt.want != "" && (err == nil || errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: %v, want a 400 naming %s", tt.q, err, tt.want)
		}
	}
}
