package httptransport

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestDecodeJSON(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	tests := []struct {
		name, body string
		kind       *errs.Kind // nil: decoded
		says       string
	}{
		{"valid", `{"partner":"p","course_id":"c","destination":"https://x.example/"}`, nil, ""},
		{"empty", ``, errs.Invalid, "empty"},
		{"truncated", `{"partner":"p`, errs.Invalid, "ends before its value does"},
		{"trailing", `{"partner":"p"}}`, errs.Invalid, "after its JSON value"},
		{"wrong type", `{"partner":1}`, errs.Invalid, `field "partner" must be a string`},
		{"huge number", `{"partner":1` + strings.Repeat("0", 5000) + `}`, errs.Invalid, `field "partner" must be a string`},
		{"unknown field", `{"colour":"red"}`, errs.Invalid, `unknown field "colour"`},
		{"long unknown field", `{"` + long + `":1}`, errs.Invalid, `unknown field "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"… (10240 bytes)`},
		{"not UTF-8", `{"partner":"caf` + "\xe9" + `"}`, errs.Invalid, "not UTF-8"},
		{"too deep", `{"partner":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, errs.Invalid, "nested too deeply"},
		{"too large", `{"title":"` + strings.Repeat("x", MaxLinkBody) + `"}`, errs.TooLarge, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b linkBody
			err := decodeJSON(httptest.NewRequest("PUT", "/v1/links/x", strings.NewReader(tt.body)), MaxLinkBody, &b)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			_, msg := errs.Public(err)
			if !errors.Is(err, tt.kind) || !strings.Contains(msg, tt.says) {
				t.Fatalf("err = %v (%s), want %v saying %q", err, msg, tt.kind, tt.says)
			}
			if len(msg) > 200 {
				t.Errorf("a %d-byte message", len(msg))
			}
		})
	}
}

// FuzzDecodeJSON: any body decodes or is a 4xx whose message is short
// and quotes little of the body.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"partner":"p","course_id":"c","destination":"https://x.example/","placements":["a"],"active":false}`))
	f.Add([]byte(`{"` + strings.Repeat("k", 100) + `":1}`))
	f.Add([]byte(`{"partner":1e999}`))
	f.Add([]byte("\xff\xfe{\x00"))
	f.Add([]byte(`[[[[[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b linkBody
		err := decodeJSON(httptest.NewRequest("PUT", "/v1/links/x", strings.NewReader(string(body))), MaxLinkBody, &b)
		if err == nil {
			return
		}
		if s := errs.HTTPStatus(err); s < 400 || s > 499 {
			t.Fatalf("status %d for %q", s, body)
		}
		_, msg := errs.Public(err)
		if len(msg) > 200 || !utf8.ValidString(msg) {
			t.Fatalf("message %q", msg)
		}
	})
}

func TestIsText(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"code,partner\n", true},
		{"\ufeff{\"code\":\"é\"}", true},
		{"caf\xc3", true}, // a character cut at the end of the peek
		{"caf\xe9 x", false},
		{"a\x00b", false},
		{"\xff\xfec\x00", false},            // UTF-16
		{"\x1f\x8b\x08\x00\x00\x00", false}, // gzip
		{"", true},
	}
	for _, tt := range tests {
		if got := isText([]byte(tt.in)); got != tt.want {
			t.Errorf("isText(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzIsText: text is what utf8.Valid calls valid, without NUL bytes,
// once a character cut at the end is set aside.
func FuzzIsText(f *testing.F) {
	f.Add([]byte("code,partner\n"))
	f.Add([]byte("caf\xc3"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, p []byte) {
		got := isText(p)
		if strings.ContainsRune(string(p), 0) && got {
			t.Fatalf("%q with NUL is text", p)
		}
		if utf8.Valid(p) && !strings.ContainsRune(string(p), 0) && !got {
			t.Fatalf("valid UTF-8 %q is not text", p)
		}
		if got && !utf8.Valid(p) {
			// Only a cut final character may be invalid: appending its
			// missing bytes would make it whole.
			for k := 1; k <= 3 && len(p) >= k; k++ {
				if utf8.Valid(p[:len(p)-k]) {
					return
				}
			}
			t.Fatalf("%q is text but invalid UTF-8 before its end", p)
		}
	})
}
