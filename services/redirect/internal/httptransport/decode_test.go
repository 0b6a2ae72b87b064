package httptransport

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/strictjson"
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

// FuzzDecodeJSON holds decodeJSON to encoding/json: a body of at most
// MaxLinkBody bytes is taken exactly when encoding/json decodes it into a
// linkBody with unknown fields refused and nothing after the value, save
// the documented refusals (not UTF-8, an escaped lone UTF-16 surrogate, a
// key given twice in any case), and then to the same linkBody; a larger
// one is a 413. A refusal is a 400 malformed_json or that 413, whose
// message is short valid UTF-8 and quotes little of the body.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"partner":"p","course_id":"c","destination":"https://x.example/","placements":["a"],"active":false}`))
	f.Add([]byte(`{"` + strings.Repeat("k", 100) + `":1}`))
	f.Add([]byte(`{"partner":1e999}`))
	f.Add([]byte("\xff\xfe{\x00"))
	f.Add([]byte(`[[[[[[`))
	f.Add([]byte(`{"Destination":"https://good.example/","destination":"https://evil.example/"}`))
	f.Add([]byte(`{"code":null,"title":"\ud83d\ude00","active":null} `))
	f.Add([]byte(`{"title":"\udc00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b linkBody
		err := decodeJSON(httptest.NewRequest("PUT", "/v1/links/x", strings.NewReader(string(body))), MaxLinkBody, &b)
		var ref linkBody
		refErr := json.Unmarshal(body, &ref) // syntax, types, trailing data
		if refErr == nil {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			ref = linkBody{}
			refErr = dec.Decode(&ref)
		}
		documented := !utf8.Valid(body)
		if !documented && refErr == nil {
			_, repeated := strictjson.RepeatedKey(body)
			documented = repeated || hasLoneSurrogate(body)
		}
		if len(body) > MaxLinkBody {
			if code, _ := errs.Public(err); errs.HTTPStatus(err) != 413 || code != "body_too_large" {
				t.Fatalf("a %d-byte body: %v, want a 413", len(body), err)
			}
			return
		}
		if err == nil {
			if refErr != nil || documented {
				t.Fatalf("took %q, which encoding/json refuses (%v) or is a documented refusal", body, refErr)
			}
			if !reflect.DeepEqual(b, ref) {
				t.Fatalf("%q decodes to %+v, encoding/json says %+v", body, b, ref)
			}
			return
		}
		if refErr == nil && !documented {
			t.Fatalf("refused %q (%v), which encoding/json takes", body, err)
		}
		if code, _ := errs.Public(err); errs.HTTPStatus(err) != 400 || code != "malformed_json" {
			t.Fatalf("status %d %s for %q", errs.HTTPStatus(err), code, body)
		}
		_, msg := errs.Public(err)
		if len(msg) > 200 || !utf8.ValidString(msg) {
			t.Fatalf("message %q", msg)
		}
	})
}

// hasLoneSurrogate reports whether JSON text b, which encoding/json
// decodes, escapes half a UTF-16 surrogate pair in a string (a key
// included): it lists each string's UTF-16 code units as written (an
// escape other than \\u, or a byte of UTF-8, is none of a surrogate) and
// looks for a high one not followed by a low one, or a low one alone.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		var units []uint16
		j := i + 1
		for ; j < len(b) && b[j] != '"'; j++ {
			switch {
			case b[j] == '\\' && b[j+1] == 'u':
				n, _ := strconv.ParseUint(string(b[j+2:j+6]), 16, 16)
				units = append(units, uint16(n))
				j += 5
			case b[j] == '\\':
				units = append(units, 0)
				j++
			default:
				units = append(units, 0)
			}
		}
		i = j
		for k := 0; k < len(units); k++ {
			switch u := units[k]; {
			case u >= 0xD800 && u <= 0xDBFF:
				if k+1 < len(units) && units[k+1] >= 0xDC00 && units[k+1] <= 0xDFFF {
					k++
					continue
				}
				return true
			case u >= 0xDC00 && u <= 0xDFFF:
				return true
			}
		}
	}
	return false
}

func TestIsText(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"code,partner\n", true},
		{"\ufeff{\"code\":\"é\"}", true},
		{"caf\xc3", true},    // a character cut at the end of the peek
		{"caf\xe9 x", false}, // one byte in six is not UTF-8
		{"code,title\nml-101,caf\xe9 cr\xe8me for beginners\n", true}, // Latin-1 in a row: that row fails, not the feed
		{"a\x01\x02\x03\x04b", false},                                 // control characters
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

// FuzzIsText: a body with a NUL byte is never text; valid UTF-8 without
// NULs or control characters (tab, CR and LF aside) always is; and what
// is text has at most one byte in ten that is neither, a character cut at
// the end set aside.
func FuzzIsText(f *testing.F) {
	f.Add([]byte("code,partner\n"))
	f.Add([]byte("caf\xc3"))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte("code,title\nml-101,caf\xe9 cr\xe8me for beginners\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		got := isText(p)
		if bytes.IndexByte(p, 0) >= 0 && got {
			t.Fatalf("%q with NUL is text", p)
		}
		clean := utf8.Valid(p) && !strings.ContainsFunc(string(p), isStrayControl)
		if clean && !got {
			t.Fatalf("valid UTF-8 %q without control characters is not text", p)
		}
		if got {
			bad, body := 0, p
			for k := 1; k <= 3 && len(p) >= k; k++ { // set a cut final character aside
				if !utf8.FullRune(p[len(p)-k:]) {
					body = p[:len(p)-k]
				}
			}
			for len(body) > 0 {
				r, size := utf8.DecodeRune(body)
				if (r == utf8.RuneError && size == 1) || isStrayControl(r) {
					bad++
				}
				body = body[size:]
			}
			if bad*10 > len(p) {
				t.Fatalf("%q is text with %d bad bytes of %d", p, bad, len(p))
			}
		}
	})
}

// TestFeedBodyCapIs413: a read past the import's cap is the contract's 413
// (body_too_large), a kind the import keeps in the error that says what it
// stored before the cap.
func TestFeedBodyCapIs413(t *testing.T) {
	body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(strings.Repeat("x", 20))), 10)
	_, err := io.ReadAll(feedBody{body})
	if errs.KindOf(err) != errs.TooLarge {
		t.Fatalf("error %v, want a 413", err)
	}
	if code, msg := errs.Public(err); code != "body_too_large" || !strings.Contains(msg, "larger than 10 bytes") {
		t.Fatalf("%s: %s", code, msg)
	}
	if b, err := io.ReadAll(feedBody{strings.NewReader("short")}); err != nil || string(b) != "short" {
		t.Fatalf("a body within its cap: %q, %v", b, err)
	}
}
