package httptransport

import (
	"bytes"
	"net/http"
	"unicode/utf8"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
)

// decodeJSON reads a JSON body of at most limit bytes into v, as
// httpx.DecodeJSON does (413 past the limit; unknown fields, a wrong type
// or trailing data are a 400), and besides refuses a body that is not
// UTF-8 (encoding/json would store its bytes as U+FFFD) and quotes at
// most link.MaxQuotedBytes of what was sent: httpx's message echoes an
// unknown field's name whole, however long.
func decodeJSON(r *http.Request, limit int64, v any) error {
	b, err := httpx.ReadBody(r, limit)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return errs.New(errs.Invalid, "malformed_json", "the body is not UTF-8 text")
	}
	return unmarshalStrict(b, v)
}

// unmarshalStrict decodes one JSON value into v: no unknown field, no
// wrong type, nothing after it (errs.Invalid, malformed_json), in words
// that quote little of what was sent.
func unmarshalStrict(b []byte, v any) error { return httpx.UnmarshalStrict(b, v) }

// isText reports whether p, the start of a body, can be UTF-8 text: valid
// UTF-8 (a character cut at its end aside) without NUL bytes. Binary,
// compressed and UTF-16 bodies are not.
func isText(p []byte) bool {
	if bytes.IndexByte(p, 0) >= 0 {
		return false
	}
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				p = p[:i]
			}
			break
		}
	}
	return utf8.Valid(p)
}
