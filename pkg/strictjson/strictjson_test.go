package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

type inner struct {
	Statuses map[string]string `json:"statuses"`
	Preset   string            `json:"preset"`
}

type input struct {
	Name    string   `json:"name"`
	Secrets []string `json:"secrets"`
	Inner   inner    `json:"mapping"`
	Count   int      `json:"count"`
	On      bool     `json:"on"`
}

func TestUnmarshal(t *testing.T) {
	long := strings.Repeat("k", 5000)
	tests := []struct {
		name, body string
		strict     bool
		want       string // "" accepted, else in the message
	}{
		{"ok", `{"name":"x","secrets":["a"],"mapping":{"statuses":{"a":"b"}}}`, true, ""},
		{"unknown field, lenient", `{"name":"x","other":1}`, false, ""},
		{"unknown field", `{"name":"x","other":1}`, true, `unknown field "other"`},
		{"unknown field of 5 KB", `{"` + long + `":1}`, true, `… (5000 bytes)`},
		{"string for an object", `{"mapping":5}`, true, `field "mapping" must be an object`},
		{"array for a map", `{"mapping":{"statuses":[1]}}`, true, `field "mapping.statuses" must be an object`},
		{"string for an array", `{"secrets":"x"}`, true, `field "secrets" must be an array`},
		{"number for a string", `{"name":1e999}`, true, `field "name" must be a string`},
		{"string for a number", `{"count":"1"}`, true, `field "count" must be a number`},
		{"string for a bool", `{"on":"yes"}`, true, `field "on" must be true or false`},
		{"array", `[]`, true, "expected an object"},
		{"string", `"s"`, true, "expected an object"},
		{"empty", ``, true, "it is empty"},
		{"truncated", `{"name":"x","secr`, true, "ends before its value does"},
		{"trailing comma", `{"name":"x",}`, true, "a syntax error at byte"},
		{"trailing garbage", `{"name":"x"}}`, true, "data after its JSON value"},
		{"two values", `{} {}`, true, "data after its JSON value"},
		{"nested too deeply", strings.Repeat("[", 20000), true, "nested too deeply"},
		{"NUL", "\x00", true, "a syntax error at byte"},
		{"Latin-1", "{\"name\":\"Caf\xe9\"}", true, "not UTF-8"},
		{"UTF-16", "\xff\xfe{\x00}\x00", true, "not UTF-8"},
		{"UTF-8 BOM", "\xef\xbb\xbf{}", true, "a syntax error at byte"},
		{"a surrogate pair", `{"name":"\ud83d\ude00"}`, true, ""},
		{"a lone high surrogate", `{"name":"a\ud800b"}`, true, "half a UTF-16 surrogate pair at byte 10"},
		{"a high surrogate at the end", `{"name":"\ud800"}`, true, "half a UTF-16 surrogate pair"},
		{"a lone low surrogate", `{"name":"\udc00"}`, true, "half a UTF-16 surrogate pair"},
		{"two high surrogates", `{"name":"\ud800\ud800"}`, true, "half a UTF-16 surrogate pair"},
		{"a high surrogate before another escape", `{"name":"\ud800\n"}`, true, "half a UTF-16 surrogate pair"},
		{"an escaped backslash before ud800", `{"name":"\\ud800"}`, true, ""},
		{"an escaped quote", `{"name":"\"\ud800"}`, true, "half a UTF-16 surrogate pair"},
		{"a surrogate in a key", `{"\udc00":1}`, false, "half a UTF-16 surrogate pair"},
		{"BMP escapes", `{"name":"\u00e9\uFFFF\u0041"}`, true, ""},
	}
	for _, tt := range tests {
		var v input
		err := Unmarshal([]byte(tt.body), &v, Options{DisallowUnknownFields: tt.strict})
		code, message := errs.Public(err)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (code != Code || errs.HTTPStatus(err) != 400 || !strings.Contains(message, tt.want)):
			t.Errorf("%s: %d %s %q, want 400 %s with %q", tt.name, errs.HTTPStatus(err), code, message, Code, tt.want)
		}
		if len(message) > 200 {
			t.Errorf("%s: a %d-byte message", tt.name, len(message))
		}
	}
}

// FuzzUnmarshal holds Unmarshal to encoding/json, with every option on
// and off, into a struct and into an interface value:
//   - it accepts exactly what encoding/json decodes (with
//     DisallowUnknownFields and UseNumber as asked, nothing but white
//     space after the value) except the documented refusals: bytes that
//     are not UTF-8, an escaped lone UTF-16 surrogate, and with
//     DisallowRepeatedKeys a key given twice (loneSurrogate and
//     RepeatedKey are held to their own references by FuzzLoneSurrogate
//     and FuzzRepeatedKey);
//   - what it accepts decodes to what encoding/json decodes, and that,
//     written by json.Marshal, is accepted again as the same value;
//   - a refusal is a 400 malformed_json with a short message that names
//     no Go type.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"mapping":5}`, `[]`, `{"` + strings.Repeat("k", 100) + `":1}`, "\xff", `{"count":1e400}`,
		`{"NAME":"x","name":"y"}`, `{"name":"\ud800"}`, `{"on":true} `, `{"other":1}`, `[1,2.50,-0,1e2,"\u00e9"]`, `{"count":1.0}`, `null`} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, opts uint8) {
		o := Options{DisallowUnknownFields: opts&1 != 0, DisallowRepeatedKeys: opts&2 != 0, UseNumber: opts&4 != 0}
		refused := func(err error) {
			t.Helper()
			code, message := errs.Public(err)
			if code != Code || errs.HTTPStatus(err) != 400 || len(message) > 200 {
				t.Fatalf("%q: %d %s %q", b, errs.HTTPStatus(err), code, message)
			}
			for _, goName := range []string{"strictjson.", "map[", "[]", "interface", "json:", "Go value"} {
				if strings.Contains(message, goName) {
					t.Fatalf("message %q names Go's %s", message, goName)
				}
			}
		}
		documented := !utf8.Valid(b)
		if !documented {
			documented = json.Valid(b) && loneSurrogate(b) >= 0
		}
		if !documented && o.DisallowRepeatedKeys && json.Valid(b) {
			_, documented = RepeatedKey(b)
		}

		var v, ref input
		err := Unmarshal(b, &v, o)
		refErr := refDecode(b, &ref, o)
		switch {
		case err != nil && refErr == nil && !documented:
			t.Fatalf("Unmarshal(%q, %+v) refused what encoding/json takes: %v", b, o, err)
		case err == nil && (refErr != nil || documented):
			t.Fatalf("Unmarshal(%q, %+v) took what encoding/json refuses (%v) or a documented refusal (%v)", b, o, refErr, documented)
		case err != nil:
			refused(err)
		case !reflect.DeepEqual(v, ref):
			t.Fatalf("Unmarshal(%q) = %+v, encoding/json %+v", b, v, ref)
		default:
			again, _ := json.Marshal(v)
			var w input
			if err := Unmarshal(again, &w, o); err != nil || !reflect.DeepEqual(w, v) {
				t.Fatalf("%+v written as %s reads %+v, %v", v, again, w, err)
			}
		}

		var a, refA any
		err = Unmarshal(b, &a, o)
		refErr = refDecode(b, &refA, o)
		switch {
		case err != nil && refErr == nil && !documented:
			t.Fatalf("Unmarshal(%q, %+v) into any refused what encoding/json takes: %v", b, o, err)
		case err == nil && (refErr != nil || documented):
			t.Fatalf("Unmarshal(%q, %+v) into any took what encoding/json refuses (%v) or a documented refusal", b, o, refErr)
		case err != nil:
			refused(err)
		case !reflect.DeepEqual(a, refA):
			t.Fatalf("Unmarshal(%q) = %#v, encoding/json %#v", b, a, refA)
		default:
			again, err := json.Marshal(a)
			if err != nil {
				t.Fatalf("%#v: %v", a, err)
			}
			var w any
			if err := Unmarshal(again, &w, o); err != nil || !reflect.DeepEqual(w, a) {
				t.Fatalf("%#v written as %s reads %#v, %v", a, again, w, err)
			}
		}
	})
}

// refDecode is encoding/json with o's DisallowUnknownFields and UseNumber,
// refusing anything but white space after the value as json.Unmarshal
// does.
func refDecode(b []byte, v any, o Options) error {
	if !json.Valid(b) {
		return json.Unmarshal(b, v) // a syntax error
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if o.DisallowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if o.UseNumber {
		dec.UseNumber()
	}
	return dec.Decode(v)
}

// FuzzLoneSurrogate holds loneSurrogate to a second reading of a JSON
// string: its UTF-16 code units, escaped or not, then the pairing rule.
func FuzzLoneSurrogate(f *testing.F) {
	for _, s := range []string{`a`, `\ud83d\ude00`, `\ud800`, `\udc00x`, `\\ud800`, `\"\ud800`, `\ud800\u0041`, `é\uDBFF\uDFFF`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body := []byte(`{"name":"` + s + `"}`)
		if !json.Valid(body) {
			return
		}
		var units []uint16
		for i := 0; i < len(s); {
			if s[i] == '\\' {
				if s[i+1] == 'u' {
					n, _ := strconv.ParseUint(s[i+2:i+6], 16, 16)
					units = append(units, uint16(n))
					i += 6
				} else {
					units = append(units, uint16(s[i+1]))
					i += 2
				}
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			units = append(units, utf16.Encode([]rune{r})...)
			i += size
		}
		paired := true
		for i := 0; i < len(units); i++ {
			switch u := rune(units[i]); {
			case u >= 0xD800 && u <= 0xDBFF:
				if i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] <= 0xDFFF {
					i++
				} else {
					paired = false
				}
			case u >= 0xDC00 && u <= 0xDFFF:
				paired = false
			}
		}
		if got := loneSurrogate(body) < 0; got != paired {
			t.Fatalf("%q: loneSurrogate says paired=%v, the units %x say %v", s, got, units, paired)
		}
	})
}

func TestRepeatedKey(t *testing.T) {
	for _, tt := range []struct {
		json, path string
		repeated   bool
	}{
		{`{"a":1,"b":2}`, "", false},
		{`{"a":1,"a":2}`, "a", true},
		{`{"order_id":"A-1","sale_amount":"1.00","order_id":"A-2"}`, "order_id", true},
		// One field for encoding/json, whatever the case.
		{`{"destination":"https://good.example/","Destination":"https://evil.example/"}`, "Destination", true},
		{`{"rate":"1.08","RATE":"9.99"}`, "RATE", true},
		{`{"k":1,"K":2}`, "K", true}, // the Kelvin sign folds to k
		{`{"data":{"key":"r","amount":1,"amount":2}}`, "data.amount", true},
		{`{"data":{"key":"r"},"data":{"key":"s"}}`, "data", true},
		{`{"a":{"x":1},"b":{"x":1}}`, "", false},
		{`{"a":[{"x":1},{"x":2}],"b":[1,"x",{"x":{"y":1,"y":2}}]}`, "b.x.y", true},
		{`{"a":[{"x":1,"x":1}]}`, "a.x", true},
		{`{"a":"a","b":"a"}`, "", false},
		{`{"a":["a","a"],"a2":{"a":"a"}}`, "", false},
		{`[{"a":1},{"a":1}]`, "", false},
		{`"a"`, "", false},
		{`{}`, "", false},
	} {
		path, repeated := RepeatedKey([]byte(tt.json))
		if path != tt.path || repeated != tt.repeated {
			t.Errorf("%s: %q %v, want %q %v", tt.json, path, repeated, tt.path, tt.repeated)
		}
	}
}

// FuzzRepeatedKey: RepeatedKey never panics, and it finds a repetition
// exactly when decoding into a map drops a member somewhere.
func FuzzRepeatedKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":2}]}}`, `{"a":1,"b":2}`, `[1,2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		_, repeated := RepeatedKey(b)
		if repeated != (countMembers(b) != countDecoded(v)) {
			t.Fatalf("%q: repeated %v, members %d, decoded %d", b, repeated, countMembers(b), countDecoded(v))
		}
	})
}

// countMembers counts the object members written in b, by its tokens.
func countMembers(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct{ object, inKey bool }
	var stack []*frame
	n := 0
	ended := func() {
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].inKey = false
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				stack = append(stack, &frame{object: t == '{'})
			} else {
				stack = stack[:len(stack)-1]
				ended()
			}
		case string:
			if len(stack) > 0 && stack[len(stack)-1].object && !stack[len(stack)-1].inKey {
				stack[len(stack)-1].inKey = true
				n++
				continue
			}
			ended()
		default:
			ended()
		}
	}
}

// countDecoded counts the object members of a decoded value.
func countDecoded(v any) int {
	switch x := v.(type) {
	case map[string]any:
		folded := map[string]bool{}
		n := 0
		for k, e := range x {
			folded[foldKey(k)] = true
			n += countDecoded(e)
		}
		return n + len(folded)
	case []any:
		n := 0
		for _, e := range x {
			n += countDecoded(e)
		}
		return n
	}
	return 0
}

func TestRepeatedMember(t *testing.T) {
	for _, tt := range []struct {
		json, path string
		repeated   bool
	}{
		{`{"a":1,"b":2}`, "", false},
		{`{"a":1,"a":2}`, "a", true},
		{` { "order_id" : "A" , "x" : {"order_id":1,"order_id":2} , "order_id":"B"}`, "order_id", true},
		{`{"a":{"x":1,"x":2}}`, "", false}, // nested: not a member
		{`{"a":"}\"{","b":[1,{"a":2}],"a":true}`, "a", true},
		{`{"\u0061":1,"a":2}`, "a", true}, // one key, two spellings
		{`{"a\"":1,"a":2}`, "", false},
		{`{}`, "", false},
		{`[1,2]`, "", false},
	} {
		path, repeated := RepeatedMember([]byte(tt.json))
		if path != tt.path || repeated != tt.repeated {
			t.Errorf("%s: %q %v, want %q %v", tt.json, path, repeated, tt.path, tt.repeated)
		}
	}
}

// FuzzRepeatedMember: on JSON that decodes, RepeatedMember finds a repeated
// member exactly when decoding the top-level object drops one.
func FuzzRepeatedMember(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"\u0061":1,"a":"x"}`, `{"a":"\"","b":[{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil || !utf8.Valid(b) {
			return
		}
		_, repeated := RepeatedMember(b)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.Token()
		members := 0
		for dec.More() {
			dec.Token()
			var skip json.RawMessage
			dec.Decode(&skip)
			members++
		}
		if repeated != (members != len(obj)) {
			t.Fatalf("%q: repeated %v, %d members, %d decoded", b, repeated, members, len(obj))
		}
	})
}

// TestDisallowRepeatedKeys: the admin APIs' decoding refuses a key given
// twice (a link's destination, a good one first, stored the second).
func TestDisallowRepeatedKeys(t *testing.T) {
	var v struct{ Destination string }
	body := []byte(`{"destination":"https://good.example/","destination":"https://evil.example/"}`)
	if err := Unmarshal(body, &v, Options{}); err != nil || v.Destination != "https://evil.example/" {
		t.Fatalf("without the option: %v %q", err, v.Destination)
	}
	err := Unmarshal(body, &v, Options{DisallowRepeatedKeys: true})
	if err == nil || errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), `"destination" more than once`) {
		t.Fatalf("with the option: %v", err)
	}
}
