// Package errtext bounds what an error answer says about the input that
// caused it. Validation messages quote the offending value ("month
// \"2026-13\" is not YYYY-MM"), which helps a person fix a request; a
// hostile caller's value can be megabytes, so an answer quotes only its
// start, and a whole message is bounded too. It is not the error table
// (pkg/errs) nor the encoder (pkg/httpx).
package errtext

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Limits on an answer's text.
const (
	MaxQuoted  = 32  // runes of a quoted value kept
	MaxMessage = 400 // bytes of a message
	MaxField   = 64  // bytes of a field name
	MaxFields  = 20  // field errors listed
)

// Bound returns err with its public text bounded: each quoted value cut
// to MaxQuoted runes, each message to MaxMessage bytes, the field list to
// MaxFields. Kind, code and cause are kept; an error without public text
// of its own is returned as it is.
func Bound(err error) error {
	var e *errs.Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.Message = Text(e.Message)
	if len(e.Fields) > 0 {
		out.Fields = make([]errs.FieldError, 0, min(len(e.Fields), MaxFields))
		for _, f := range e.Fields[:min(len(e.Fields), MaxFields)] {
			out.Fields = append(out.Fields, errs.FieldError{Field: cut(f.Field, MaxField), Message: Text(f.Message)})
		}
	}
	return &out
}

// quoted matches a Go-quoted string as %q writes it.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// Text bounds one message: quoted values to their first MaxQuoted runes,
// the whole to MaxMessage bytes, and invalid UTF-8 replaced.
func Text(msg string) string {
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		s, err := strconv.Unquote(q)
		if err != nil || utf8.RuneCountInString(s) <= MaxQuoted {
			return q
		}
		n := 0
		for i := range s {
			if n == MaxQuoted {
				s = s[:i]
				break
			}
			n++
		}
		return strconv.Quote(s) + "…"
	})
	return cut(msg, MaxMessage)
}

// cut keeps at most n bytes of s, whole runes only, marking a cut.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
