package httptransport

import (
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

func TestClickParams(t *testing.T) {
	long := strings.Repeat("a", 8<<10)
	tests := []struct {
		query string
		want  redirect.ClickRequest
	}{
		{"utm_source=news%20letter&utm_source=second&placement=hero&no-track&x=1&utm_term=a+b&utm_content=%zz",
			redirect.ClickRequest{UTMSource: "news letter", Placement: "hero", NoTrack: true, UTMTerm: "a b"}},
		{"utm_medium=&utm_medium=email&placement", redirect.ClickRequest{UTMMedium: "email"}},
		// The first non-empty value is the visitor's, valid or not: one
		// that cannot be a tag is not decoded and not replaced.
		{"placement=" + long + "&placement=hero", redirect.ClickRequest{}},
		{"utm_campaign=%zz&utm_campaign=nov", redirect.ClickRequest{}},
		// At most 3 x 64 raw bytes is decoded: 64 percent-encoded bytes.
		{"placement=" + strings.Repeat("%41", 64), redirect.ClickRequest{Placement: strings.Repeat("A", 64)}},
		{"placement=" + strings.Repeat("%41", 64) + "B", redirect.ClickRequest{}},
		// Decoded but not a tag: Click drops it (it is no partial value).
		{"utm_source=%FF%00x&utm_content=" + strings.Repeat("c", 65), redirect.ClickRequest{UTMSource: "\xff\x00x", UTMContent: strings.Repeat("c", 65)}},
	}
	for _, tt := range tests {
		var got redirect.ClickRequest
		clickParams(tt.query, &got)
		if got != tt.want {
			t.Errorf("clickParams(%.60q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// FuzzClickParams: the hand-rolled parser records the same tag as
// url.Query() does for every parameter a click records (the first
// non-empty value, dropped unless it is a tag), never decodes more than a
// tag can take, and never yields part of a value.
func FuzzClickParams(f *testing.F) {
	f.Add("utm_source=a&placement=b%20c")
	f.Add("no-track&utm_medium=&utm_medium=x")
	f.Add("utm_campaign=%ZZ;utm_term=1")
	f.Add("placement=" + strings.Repeat("%7E", 64) + "&placement=hero")
	f.Add("utm_content=" + strings.Repeat("x", 300) + "&utm_content=y")
	f.Fuzz(func(t *testing.T, raw string) {
		var req redirect.ClickRequest
		clickParams(raw, &req)
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // url.ParseQuery gives up on the whole query; we keep the good pairs
		}
		for key, got := range map[string]string{"utm_source": req.UTMSource, "utm_medium": req.UTMMedium,
			"utm_campaign": req.UTMCampaign, "utm_term": req.UTMTerm, "utm_content": req.UTMContent, "placement": req.Placement} {
			want := ""
			for _, v := range q[key] {
				if v != "" {
					want = v
					break
				}
			}
			if got != "" && got != want {
				t.Fatalf("%s: got %q, want %q or nothing (query %q)", key, got, want, raw)
			}
			if len(got) > maxRawTag {
				t.Fatalf("%s: decoded %d bytes, more than a tag's %d raw", key, len(got), maxRawTag)
			}
			if events.Tag(got) != events.Tag(want) {
				t.Fatalf("%s: records %q, url.Query would record %q (query %q)", key, events.Tag(got), events.Tag(want), raw)
			}
		}
	})
}
