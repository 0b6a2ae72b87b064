package httpx

import (
	"net/url"
	"slices"
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

func TestOnlyParameters(t *testing.T) {
	long := strings.Repeat("m", 100)
	for _, tt := range []struct {
		query string
		want  []string // fields named, in order; none: no error
	}{
		{"month=2026-11&format=csv", nil},
		{"", nil},
		{"monht=2026-11", []string{"monht"}},
		{"zz=1&month=2026-11&aa=2", []string{"aa", "zz"}},
		{long + "=1", []string{long[:40]}},
	} {
		q, _ := url.ParseQuery(tt.query)
		err := OnlyParameters(q, "month", "format")
		var got []string
		for _, fe := range errs.FieldsOf(err) {
			got = append(got, fe.Field)
		}
		if !slices.Equal(got, tt.want) || (len(tt.want) > 0 && errs.HTTPStatus(err) != 422) {
			t.Errorf("%q: %v (%v), want fields %v in a 422", tt.query, got, err, tt.want)
		}
	}
}
