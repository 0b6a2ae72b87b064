package httptransport

import (
	"net/url"
	"testing"

	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

func TestClickParams(t *testing.T) {
	var req redirect.ClickRequest
	clickParams("utm_source=news%20letter&utm_source=second&placement=hero&no-track&x=1&utm_term=a+b&utm_content=%zz", &req)
	if req.UTMSource != "news letter" || req.Placement != "hero" || !req.NoTrack || req.UTMTerm != "a b" || req.UTMContent != "" {
		t.Fatalf("%+v", req)
	}
}

// FuzzClickParams: the hand-rolled parser agrees with url.Query().Get for
// every parameter a click records.
func FuzzClickParams(f *testing.F) {
	f.Add("utm_source=a&placement=b%20c")
	f.Add("no-track&utm_medium=&utm_medium=x")
	f.Add("utm_campaign=%ZZ;utm_term=1")
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
			if got != want {
				t.Fatalf("%s: got %q, want %q (query %q)", key, got, want, raw)
			}
		}
	})
}
