package errtext

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

func TestBound(t *testing.T) {
	long := strings.Repeat("A", 10000) + "END"
	err := errs.Fields{{Field: "month", Message: `"` + long + `" is not YYYY-MM`}, {Field: long, Message: "unknown"}}.Err("invalid_query")
	b := Bound(err)
	if !errors.Is(b, errs.Unprocessable) || errs.HTTPStatus(b) != 422 {
		t.Fatalf("kind lost: %v", b)
	}
	code, msg := errs.Public(b)
	if code != "invalid_query" || strings.Contains(msg, "END") || len(msg) > MaxMessage+3 {
		t.Fatalf("public text %s %q", code, msg)
	}
	for _, f := range errs.FieldsOf(b) {
		if strings.Contains(f.Field+f.Message, "END") || len(f.Field) > MaxField+3 {
			t.Fatalf("field %+v", f)
		}
	}
	if got := Text(`month "2026-13" is not YYYY-MM`); got != `month "2026-13" is not YYYY-MM` {
		t.Errorf("a short value is changed: %q", got)
	}
	if got := Text(`tz "` + strings.Repeat("é", 40) + `" is bad`); got != `tz "`+strings.Repeat("é", 32)+`"… is bad` {
		t.Errorf("cut = %q", got)
	}
	if plain := errors.New("x"); Bound(plain) != plain {
		t.Error("an error without public text changed")
	}
}

func FuzzText(f *testing.F) {
	f.Add(`month "2026-13" is not YYYY-MM`)
	f.Add(`"\xff\x00` + strings.Repeat("a", 100) + `"`)
	f.Add(`"\"`)
	f.Fuzz(func(t *testing.T, msg string) {
		out := Text(msg)
		if !utf8.ValidString(out) || len(out) > MaxMessage+len("…") {
			t.Fatalf("Text(%q) = %q", msg, out)
		}
	})
}
