package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/redirect/internal/httptransport"
)

// marker ends every hostile value that is not small: no answer may echo it.
const marker = "HOSTILE"

// leaks are what an answer must never hold: internal paths, Go source
// positions and stacks, SQL and driver text.
var leaks = []string{marker, "/work/", "/root/", ".go:", "goroutine", "panic", "pq:", "sql:", "SELECT", "INSERT",
	"redirect.links", "visitor_salts", "postgres", "runtime."}

type hostile struct {
	name, method, path string
	body               io.Reader
	headers            []string
	status             int  // the answer's status
	shape              bool // the contract's JSON error, {"error":{"code","message"}}
	code               string
	contains           string // what a 2xx answer must hold
}

// TestHostileInputOnEveryRoute sends each route oversized, truncated,
// binary, deeply nested, wrongly typed and wrongly encoded input. Every
// answer is the status the contract gives (a 4xx, or /c/'s 302 or 404;
// an import answers a readable feed with 200 and its per-row errors),
// never a 5xx, within the client's timeout; error answers have the
// contract's shape, stay small and echo nothing of the input nor any
// internals. The service is healthy afterwards.
//
// Requests that net/http itself refuses before any handler runs (a
// malformed request line, an invalid escape in the path, a control
// character in a header, headers above 32 KiB) are answered by net/http
// in plain text: TestHostileRequestsNetHTTPRefuses checks they are 4xx
// and leak nothing.
func TestHostileInputOnEveryRoute(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	p := start(t, testkit.Listen(t), baseEnv(t, migratedDatabaseURL(t), b))
	putLink(t, p.Base, "ml-101", "https://x.example/?c={click_id}")
	// The marker ends each value: quoting a few bytes of a value is fine,
	// echoing one is not.
	hv := testkit.NewHostileValues(marker, 12)
	big, binary, nested, utf16le := hv.Big, hv.Binary, hv.Nested, hv.UTF16LE
	rng := rand.New(rand.NewPCG(12, 12)) // header values: randomBytes
	valid := `{"partner":"coursera","course_id":"ml-101","destination":"https://x.example/"}`
	str := strings.NewReader
	auth := []string{"Authorization", "Bearer " + adminToken}
	with := func(h ...string) []string { return append(append([]string(nil), auth...), h...) }
	acceptJSON := []string{"Accept", "application/json"}

	cases := []hostile{
		// PUT /v1/links/{code}
		{"put: oversized body", "PUT", "/v1/links/x", str(`{"title":"` + big(httptransport.MaxLinkBody) + `"}`), with(), 413, true, "body_too_large", ""},
		{"put: oversized body, chunked", "PUT", "/v1/links/x", io.MultiReader(str(`{"title":"`), str(big(1<<20))), with(), 413, true, "body_too_large", ""},
		{"put: oversized code", "PUT", "/v1/links/" + big(8<<10), str(valid), with(), 422, true, "invalid_link", ""},
		{"put: truncated", "PUT", "/v1/links/x", str(valid[:len(valid)/2]), with(), 400, true, "malformed_json", ""},
		{"put: empty", "PUT", "/v1/links/x", str(""), with(), 400, true, "malformed_json", ""},
		{"put: trailing garbage", "PUT", "/v1/links/x", str(valid + `}` + big(100)), with(), 400, true, "malformed_json", ""},
		{"put: binary", "PUT", "/v1/links/x", str(binary(4 << 10)), with(), 400, true, "malformed_json", ""},
		{"put: deeply nested", "PUT", "/v1/links/x", str(`{"partner":` + nested(20000) + `}`), with(), 400, true, "malformed_json", ""},
		{"put: deeply nested objects", "PUT", "/v1/links/x", str(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)), with(), 400, true, "malformed_json", ""},
		{"put: number for a string", "PUT", "/v1/links/x", str(`{"partner":1,"course_id":"c","destination":"https://x.example/"}`), with(), 400, true, "malformed_json", ""},
		{"put: string for a bool", "PUT", "/v1/links/x", str(`{"partner":"p","course_id":"c","destination":"https://x.example/","active":"yes"}`), with(), 400, true, "malformed_json", ""},
		{"put: object for a list", "PUT", "/v1/links/x", str(`{"partner":"p","course_id":"c","destination":"https://x.example/","placements":{"a":1}}`), with(), 400, true, "malformed_json", ""},
		{"put: array body", "PUT", "/v1/links/x", str(`[` + valid + `]`), with(), 400, true, "malformed_json", ""},
		{"put: huge unknown field", "PUT", "/v1/links/x", str(`{"` + big(60<<10) + `":1}`), with(), 400, true, "malformed_json", ""},
		{"put: huge number", "PUT", "/v1/links/x", str(`{"partner":1` + strings.Repeat("0", 10000) + `}`), with(), 400, true, "malformed_json", ""},
		{"put: Latin-1", "PUT", "/v1/links/x", str(`{"partner":"p","course_id":"caf` + "\xe9" + `","destination":"https://x.example/"}`), with(), 400, true, "malformed_json", ""},
		{"put: UTF-16", "PUT", "/v1/links/x", str(utf16le(valid)), with(), 400, true, "malformed_json", ""},
		{"put: form-encoded", "PUT", "/v1/links/x", str("partner=p&course_id=c"), with("Content-Type", "application/x-www-form-urlencoded"), 400, true, "malformed_json", ""},
		{"put: control characters", "PUT", "/v1/links/x", str(`{"partner":"p","course_id":"c\u0000","title":"\u001b[31m","destination":"https://x.example/"}`), with(), 422, true, "invalid_link", ""},
		{"put: oversized token", "PUT", "/v1/links/x", str(valid), []string{"Authorization", "Bearer " + big(16<<10)}, 401, true, "invalid_token", ""},
		{"put: binary token", "PUT", "/v1/links/x", str(valid), []string{"Authorization", "Bearer " + "\x80\xff" + marker}, 401, true, "invalid_token", ""},
		{"put: no token", "PUT", "/v1/links/x", str(binary(1 << 10)), nil, 401, true, "missing_token", ""},

		// GET /v1/links/{code}
		{"get: oversized code", "GET", "/v1/links/" + big(16<<10), nil, with(), 404, true, "link_not_found", ""},
		{"get: binary code", "GET", "/v1/links/" + url.PathEscape(binary(64)), nil, with(), 404, true, "link_not_found", ""},
		{"get: encoded slash", "GET", "/v1/links/a%2Fb", nil, with(), 404, true, "link_not_found", ""},
		{"get: body on a GET", "GET", "/v1/links/none", str(binary(1 << 20)), with(), 404, true, "link_not_found", ""},
		{"get: no token", "GET", "/v1/links/ml-101", nil, []string{"Authorization", "Basic " + big(100)}, 401, true, "missing_token", ""},
		{"get: bad escape in the query", "GET", "/v1/links/ml-101?x=%ZZ" + marker, nil, with(), 400, true, "invalid_query", ""},
		{"put: ';' in the query", "PUT", "/v1/links/x?a=1;" + marker, str(valid), with(), 400, true, "invalid_query", ""},

		// GET /v1/links
		{"list: limit not a number", "GET", "/v1/links?limit=" + big(100), nil, with(), 422, true, "invalid_query", ""},
		{"list: limit overflows", "GET", "/v1/links?limit=" + strings.Repeat("9", 400), nil, with(), 422, true, "invalid_query", ""},
		{"list: negative limit", "GET", "/v1/links?limit=-1", nil, with(), 422, true, "invalid_query", ""},
		{"list: partner twice", "GET", "/v1/links?partner=a&partner=b", nil, with(), 400, true, "repeated_parameter", ""},
		{"list: float limit", "GET", "/v1/links?limit=1e3", nil, with(), 422, true, "invalid_query", ""},
		{"list: oversized partner", "GET", "/v1/links?partner=" + big(16<<10), nil, with(), 422, true, "invalid_query", ""},
		{"list: binary partner", "GET", "/v1/links?partner=" + url.QueryEscape(binary(64)), nil, with(), 422, true, "invalid_query", ""},
		{"list: binary cursor", "GET", "/v1/links?cursor=" + url.QueryEscape(binary(64)), nil, with(), 422, true, "invalid_query", ""},
		{"list: bad escape", "GET", "/v1/links?partner=%zz" + marker, nil, with(), 400, true, "invalid_query", ""},
		{"list: semicolon", "GET", "/v1/links?partner=a;" + marker, nil, with(), 400, true, "invalid_query", ""},
		{"list: no token", "GET", "/v1/links", nil, nil, 401, true, "missing_token", ""},

		// POST /v1/links:import: a feed that cannot be read is a 4xx; a
		// readable one is 200 with its rows' errors (contract).
		{"import: oversized by length", "POST", "/v1/links:import", testkit.Endless(300 << 20), with("Content-Type", "application/x-ndjson"), 413, true, "body_too_large", ""},
		{"import: oversized line", "POST", "/v1/links:import", str(`{"code":"` + big(70<<10) + `"}` + "\n"), with("Content-Type", "application/x-ndjson"), 200, false, "", `"failed":1`},
		{"import: oversized CSV record", "POST", "/v1/links:import", str("code,partner,course_id,destination\n\"" + big(300<<10) + "\",p,c,https://x.example/\n"), with("Content-Type", "text/csv"), 400, true, "unreadable_feed", ""},
		{"import: oversized CSV header", "POST", "/v1/links:import", str(big(300<<10) + "\n"), with("Content-Type", "text/csv"), 400, true, "unreadable_feed", ""},
		{"import: binary", "POST", "/v1/links:import", str(binary(4 << 10)), with(), 400, true, "unreadable_feed", ""},
		{"import: binary as NDJSON", "POST", "/v1/links:import", str("\x00" + binary(4<<10)), with("Content-Type", "application/x-ndjson"), 400, true, "unreadable_feed", ""},
		{"import: UTF-16", "POST", "/v1/links:import", str(utf16le("code,partner,course_id,destination\na,p,c,https://x.example/\n")), with(), 400, true, "unreadable_feed", ""},
		{"import: gzip", "POST", "/v1/links:import", str("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + binary(200)), with("Content-Encoding", "gzip"), 400, true, "unreadable_feed", ""},
		{"import: empty", "POST", "/v1/links:import", str("\n\n"), with(), 400, true, "empty_feed", ""},
		{"import: unknown format", "POST", "/v1/links:import?format=" + big(8<<10), str(valid), with(), 400, true, "unknown_format", ""},
		{"import: CSV header twice", "POST", "/v1/links:import", str("code,partner,course_id,destination," + big(10<<10) + "," + big(10<<10) + "\n"), with("Content-Type", "text/csv"), 400, true, "unreadable_feed", ""},
		{"import: bad query escape", "POST", "/v1/links:import?format=%zz", str(valid), with(), 400, true, "invalid_query", ""},
		{"import: no token", "POST", "/v1/links:import", str(binary(1 << 10)), nil, 401, true, "missing_token", ""},
		{"import: truncated row", "POST", "/v1/links:import", str(`{"code":"t1","partner":"p","course_id":"` + big(1<<10)), with("Content-Type", "application/x-ndjson"), 200, false, "", `"failed":1`},
		{"import: deeply nested row", "POST", "/v1/links:import", str(`{"code":` + nested(30000) + "}\n"), with("Content-Type", "application/x-ndjson"), 200, false, "", `"failed":1`},
		{"import: wrongly typed rows", "POST", "/v1/links:import", str(`{"code":1}` + "\n" + `["a"]` + "\n" + `"` + big(1<<10) + `"` + "\n" + `{"code":"t2","active":"` + big(1<<10) + `"}` + "\n"), with("Content-Type", "application/x-ndjson"), 200, false, "", `"failed":4`},
		{"import: Latin-1 feed", "POST", "/v1/links:import", str("code,partner,course_id,destination\nt3,p,caf\xe9" + big(1<<10) + ",https://x.example/\n"), with("Content-Type", "text/csv"), 200, false, "", `"failed":1`}, // one byte in another encoding: its row fails, not the feed
		{"import: Latin-1 row", "POST", "/v1/links:import", str("code,partner,course_id,destination\n" + strings.Repeat("t3,p,c,https://x.example/\n", 30) + "t4,p,caf\xe9" + big(1<<10) + ",https://x.example/\n"), with("Content-Type", "text/csv"), 200, false, "", `"failed":1`},
		{"import: unterminated quote", "POST", "/v1/links:import", str("code,partner,course_id,destination\nt4,p,\"" + big(1<<10) + "\n"), with("Content-Type", "text/csv"), 200, false, "", `"failed":1`},
		{"import: long bad code", "POST", "/v1/links:import", str("code,partner,course_id,destination\n" + big(60<<10) + ",p,c,https://x.example/\n"), with("Content-Type", "text/csv"), 200, false, "", `"failed":1`},

		// GET /c/{code}: unknown or malformed codes are 404, HTML for
		// browsers and JSON for API clients; hostile query values and
		// headers are capped and the visitor still gets the 302.
		{"click: oversized code", "GET", "/c/" + big(16<<10), nil, acceptJSON, 404, true, "link_not_found", ""},
		{"click: oversized code, browser", "GET", "/c/" + big(16<<10), nil, nil, 404, false, "", ""},
		{"click: binary code", "GET", "/c/" + url.PathEscape(binary(64)), nil, acceptJSON, 404, true, "link_not_found", ""},
		{"click: encoded slash", "GET", "/c/ml-101%2F..%2F", nil, acceptJSON, 404, true, "link_not_found", ""},
		{"click: NUL in the code", "GET", "/c/ml-101%00", nil, acceptJSON, 404, true, "link_not_found", ""},
		{"click: unclean path, browser", "GET", "/c//ml-101", nil, nil, 404, false, "", "Link not found"},
		{"click: unclean path, API client", "GET", "/c/./ml-101", nil, acceptJSON, 404, true, "link_not_found", ""},
		{"click: unclean path out of /c/", "GET", "/c/../v1/links", nil, nil, 404, false, "", "Link not found"},
		{"click: unclean path, POST", "POST", "/c//ml-101", nil, nil, 404, true, "not_found", ""},
		{"click: body on a click", "GET", "/c/ml-101", str(binary(1 << 20)), nil, 302, false, "", ""},
		{"click: hostile query", "GET", "/c/ml-101?utm_source=%zz&placement=" + url.QueryEscape(binary(100)) + "&utm_term=" + big(8<<10) + "&utm_content=" + nested(500), nil, nil, 302, false, "", ""},
		{"click: hostile headers", "GET", "/c/ml-101", nil, []string{"User-Agent", randomBytes(rng, 16<<10) + marker, "Referer", big(8 << 10), "X-Forwarded-For", big(1 << 10), "Accept", big(1 << 10)}, 302, false, "", ""},
		{"click: POST", "POST", "/c/ml-101", str(binary(1 << 10)), nil, 405, true, "method_not_allowed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, p.Base+c.path, c.body)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(c.headers); i += 2 {
				req.Header.Set(c.headers[i], c.headers[i+1])
			}
			resp, body := testkit.SendHostile(t, req)
			checkAnswer(t, resp.StatusCode, resp.Header, body, c.status, c.shape, c.code)
			if !bytes.Contains(body, []byte(c.contains)) {
				t.Errorf("the answer lacks %s: %.300s", c.contains, body)
			}
		})
	}

	// The service is whole afterwards.
	if r := do(t, "GET", p.Base+"/healthz", ""); r.status != 200 {
		t.Fatalf("healthz after the suite = %d", r.status)
	}
	if r := do(t, "GET", p.Base+"/c/ml-101", ""); r.status != 302 {
		t.Fatalf("a click after the suite = %d", r.status)
	}
	if strings.Contains(p.Logs(), "panicked") {
		t.Errorf("a handler panicked:\n%s", p.Logs())
	}
}

// checkAnswer holds an answer to the suite's rules.
func checkAnswer(t *testing.T, status int, h http.Header, body []byte, want int, shape bool, code string) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("answered %d: %.300s", status, body)
	}
	if status != want {
		t.Errorf("answered %d, want %d: %.300s", status, want, body)
	}
	for _, leak := range leaks {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("the answer holds %q: %.300s", leak, body)
		}
	}
	if status >= 400 && len(body) > 4<<10 {
		t.Errorf("a %d-byte error answer: %.300s", len(body), body)
	}
	if !shape {
		return
	}
	testkit.ErrorShape(t, h, body, code)
}

// TestHostileRequestsNetHTTPRefuses: requests net/http refuses before any
// route sees them get a 4xx in the contract's error shape (net/http's own
// plain-text answer, rewritten by httpx.Serve), and nothing of what was
// sent, within the connection's deadline.
func TestHostileRequestsNetHTTPRefuses(t *testing.T) {
	t.Parallel()
	b := testkit.RestartableKafka(t)
	p := start(t, testkit.Listen(t), baseEnv(t, migratedDatabaseURL(t), b))
	addr := strings.TrimPrefix(p.Base, "http://")
	tests := []struct {
		name, request string
		status        int
		code          string
	}{
		{"bad escape in a click", "GET /c/%zz" + marker + " HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"},
		{"bad escape in an admin path", "GET /v1/links/%zz" + marker + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + adminToken + "\r\n\r\n", 400, "malformed_request"},
		{"binary request line", "GET /c/\x00\x01" + marker + " HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"},
		{"control character in a header", "GET /c/ml-101 HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x01" + marker + "\r\n\r\n", 400, "malformed_request"},
		{"headers above 32 KiB", "GET /c/ml-101 HTTP/1.1\r\nHost: x\r\nUser-Agent: " + marker + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431, "headers_too_large"},
		{"bad content length", "PUT /v1/links/x HTTP/1.1\r\nHost: x\r\nContent-Length: " + marker + "\r\n\r\n", 400, "malformed_request"},
		{"truncated headers", "GET /c/ml-101 HTTP/1.1\r\nHost: x\r\nUser-Agent: " + marker, 400, "malformed_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := testkit.RawHTTP(t, addr, tt.request, strings.HasSuffix(tt.name, "truncated headers"))
			checkAnswer(t, resp.StatusCode, resp.Header, body, tt.status, true, tt.code)
		})
	}
	if r := do(t, "GET", p.Base+"/healthz", ""); r.status != 200 {
		t.Fatalf("healthz after the suite = %d", r.status)
	}
}
