package httptransport

import (
	"bytes"
	"io"
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

// feedBody is an import's body whose cap (httpx.LimitBody) is the
// contract's 413 as soon as a read passes it, a kind the import keeps
// when it says which rows it stored before the cap: a chunked feed has no
// Content-Length to be refused by before its first row.
type feedBody struct{ r io.Reader }

func (b feedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if tooLarge := httpx.BodyTooLarge(err, "the feed"); tooLarge != nil {
		err = tooLarge
	}
	return n, err
}

// isText reports whether p, the start of a body, can be a text feed: no
// NUL byte, and at most one byte in ten outside UTF-8 text (invalid
// UTF-8, or a control character other than tab, CR and LF). Binary,
// compressed and UTF-16 bodies are not (NULs, or mostly invalid bytes). A
// feed with a stray byte in another encoding (a Latin-1 "é") is: the rows
// that hold one fail on their own (feed.Reader), like the same byte
// further on, and the others are imported.
func isText(p []byte) bool {
	if bytes.IndexByte(p, 0) >= 0 {
		return false
	}
	bad := 0
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			if !utf8.FullRune(p[i:]) {
				i = len(p) // a character cut at the end of the peek
				continue
			}
			bad++
		case isStrayControl(r):
			bad++
		}
		i += size
	}
	return bad*10 <= len(p)
}

// isStrayControl reports whether r is an ASCII control character that no
// text feed holds: any but tab, CR and LF.
func isStrayControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\r' && r != '\n') || r == 0x7f
}
