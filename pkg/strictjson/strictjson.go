// Package strictjson decodes the JSON partners and admins send: UTF-8
// only, one value with nothing after it, and refusals whose messages name
// JSON's types (object, array, string) rather than Go's, and repeat at most
// a few bytes of what was sent. It is not a JSON parser of its own: it
// wraps encoding/json and words its errors.
// httpx.UnmarshalStrict, which every service's admin API decodes through,
// is Unmarshal with unknown fields refused.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Code is the error code of every refusal: a 400.
const Code = "malformed_json"

// MaxQuoted is how many bytes of a sent name a message repeats.
const MaxQuoted = 40

// Options say how strict Unmarshal is.
type Options struct {
	// What names the JSON in messages: "the body" when empty.
	What string
	// DisallowUnknownFields refuses object keys v has no field for.
	DisallowUnknownFields bool
	// UseNumber decodes numbers into an interface{} as json.Number.
	UseNumber bool
	// DisallowRepeatedKeys refuses an object that gives a key twice
	// (RepeatedKey): encoding/json keeps the last, and which the sender
	// meant is not defined (a link's destination given twice, a good one
	// first, stored the second).
	DisallowRepeatedKeys bool
}

// Unmarshal decodes b into v. A value of the wrong type, bytes that are
// not UTF-8 (RFC 8259 section 8.1: encoding/json would turn them into
// U+FFFD quietly), more than one value, or nesting deeper than
// encoding/json allows are refused as errs.Invalid with Code (a 400).
func Unmarshal(b []byte, v any, o Options) error {
	what := o.What
	if what == "" {
		what = "the body"
	}
	if !utf8.Valid(b) {
		return errs.Newf(errs.Invalid, Code, "%s is not UTF-8", what)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if o.DisallowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if o.UseNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return errs.Newf(errs.Invalid, Code, "%s is not valid JSON for this request: %s", what, Problem(err))
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return errs.Newf(errs.Invalid, Code, "%s has data after its JSON value", what)
	}
	if at := loneSurrogate(b); at >= 0 {
		return errs.Newf(errs.Invalid, Code, "%s escapes half a UTF-16 surrogate pair at byte %d", what, at)
	}
	if o.DisallowRepeatedKeys {
		if path, ok := RepeatedKey(b); ok {
			return errs.Newf(errs.Invalid, Code, "%s gives %s more than once in one object: which value is meant is not defined", what, quote(path))
		}
	}
	return nil
}

// loneSurrogate returns the offset of the first \uD800-\uDFFF escape in
// the JSON text b that is not half of a high-low pair, or -1. Such an
// escape stands for no character: encoding/json decodes it as U+FFFD, so
// two different ids sent would become one. b is JSON that decoded, so
// strings are well formed and an escape is always whole.
func loneSurrogate(b []byte) int {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] != 'u' || i+6 > len(b) {
				i++ // an escaped character: skip it
				continue
			}
			r := hex4(b[i+2 : i+6])
			switch {
			case r >= 0xD800 && r <= 0xDBFF: // high: a low one must follow
				if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return i
				}
				if lo := hex4(b[i+8 : i+12]); lo < 0xDC00 || lo > 0xDFFF {
					return i
				}
				i += 11
			case r >= 0xDC00 && r <= 0xDFFF: // low without a high one
				return i
			default:
				i += 5
			}
		}
	}
	return -1
}

// hex4 reads four hex digits (-1 when they are not).
func hex4(h []byte) int {
	n := 0
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			n = n*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n*16 + int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			n = n*16 + int(c-'A') + 10
		default:
			return -1
		}
	}
	return n
}

// Problem words an encoding/json error for the sender: JSON type names,
// a field path and sent names cut to MaxQuoted bytes, byte offsets rather
// than the offending characters.
func Problem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		want := Kind(typeErr.Type)
		if typeErr.Field != "" {
			return fmt.Sprintf("field %s must be %s", quote(typeErr.Field), want)
		}
		return "expected " + want
	case errors.Is(err, io.EOF):
		return "it is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends before its value does"
	case errors.As(err, &syntaxErr):
		if strings.Contains(syntaxErr.Error(), "exceeded max depth") {
			return "it is nested too deeply"
		}
		return fmt.Sprintf("a syntax error at byte %d", syntaxErr.Offset)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if s, uerr := strconv.Unquote(name); uerr == nil {
			name = s
		}
		return "unknown field " + quote(name)
	}
	return "it cannot be read"
}

// Kind is the JSON name of what a Go type decodes from.
func Kind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value of another type"
}

// quote repeats a name the sender chose, cut to MaxQuoted bytes.
func quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	cut := s[:MaxQuoted]
	for !utf8.ValidString(cut) && len(cut) > 0 {
		cut = cut[:len(cut)-1]
	}
	return strconv.Quote(cut) + fmt.Sprintf("… (%d bytes)", len(s))
}

// RepeatedKey returns the dotted path ("data.amount") of the first object
// key that b, JSON that Unmarshal accepted, gives twice in one object, and
// whether there is one. Keys are compared as encoding/json matches them to
// a struct's fields, without regard to case ("destination" and
// "Destination" are one field): it keeps the last of them, so what the
// sender meant is not defined, and a message with one is refused (a
// repeated parameter of a postback is too).
func RepeatedKey(b []byte) (string, bool) {
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    string // an object's member being read, when inKey
		inKey  bool
	}
	var stack []*frame
	path := func(last string) string {
		var parts []string
		for _, f := range stack {
			if f.object && f.inKey {
				parts = append(parts, f.key)
			}
		}
		return strings.Join(append(parts, last), ".")
	}
	valueEnded := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].inKey = false
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // the end of b, or JSON Unmarshal refuses
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{object: true, keys: map[string]struct{}{}})
			case '[':
				stack = append(stack, &frame{})
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				valueEnded()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && !stack[n-1].inKey {
				f := stack[n-1]
				if _, seen := f.keys[foldKey(t)]; seen {
					f.inKey = false
					return path(t), true
				}
				f.keys[foldKey(t)], f.key, f.inKey = struct{}{}, t, true
				continue
			}
			valueEnded()
		default:
			valueEnded()
		}
	}
}

// RepeatedMember is RepeatedKey for the members of b's top-level object
// alone, the ones a flat message (a webhook) is read from, without
// RepeatedKey's allocations: a webhook's check costs well under a
// microsecond. b must be JSON Unmarshal accepted; a key written with an
// escape goes to RepeatedKey, as only decoding tells two spellings apart.
func RepeatedMember(b []byte) (string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	var small [16][]byte
	keys := small[:0]
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return "", false // '}' of an empty object, or not what Unmarshal took
		}
		end, escaped := stringEnd(b, i)
		if end < 0 {
			return "", false
		}
		if escaped {
			return repeatedTopLevel(b)
		}
		key := b[i+1 : end]
		for _, k := range keys {
			if bytes.Equal(k, key) {
				return string(key), true
			}
		}
		keys = append(keys, key)
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return "", false
		}
		if i = skipValue(b, skipSpace(b, i+1)); i < 0 {
			return "", false
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ',' {
			return "", false // '}': the object's end
		}
		i++
	}
}

// repeatedTopLevel is RepeatedKey's answer when it names a top-level key.
func repeatedTopLevel(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
}

// foldKey is k with each letter in one case of its own, so that keys
// encoding/json takes for one field (it folds case, "K" and the Kelvin
// sign alike, strings.EqualFold's simple folding) map to one string.
func foldKey(k string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, k)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string that opens
// at b[i], and whether it holds an escape; -1 if it does not close.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index just past the JSON value at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		if end < 0 {
			return -1
		}
		return end + 1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(b); j++ { // a number, true, false or null
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(b)
}
