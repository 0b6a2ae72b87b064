package link

import "testing"

// TestPercentEncodedHostsThatWereValid: destinations accepted before
// 86dc725 whose host is a legitimate internationalised name, only
// percent-encoded (what url-encoding a whole URL in a catalog feed gives).
// Browsers decode and map them to the same host as the raw IRI, which
// Validate accepts and stores as punycode: they should be normalised the
// same way, not refused.
func TestPercentEncodedHostsThatWereValid(t *testing.T) {
	for _, tt := range []struct{ dest, want string }{
		{"https://b%C3%BCcher.example/learn?id={click_id}", "https://xn--bcher-kva.example/learn?id={click_id}"},
		{"https://www.m%C3%BCnchen.de/kurs", "https://www.xn--mnchen-3ya.de/kurs"},
		{"https://%E4%BE%8B%E3%81%88.jp/", "https://xn--r8jz45g.jp/"},
	} {
		l := valid()
		l.Destination = tt.dest
		got, err := l.Normalized()
		if err != nil {
			t.Errorf("%s: %v", tt.dest, err)
			continue
		}
		if got.Destination != tt.want {
			t.Errorf("%s stored as %s, want %s", tt.dest, got.Destination, tt.want)
		}
	}
}
