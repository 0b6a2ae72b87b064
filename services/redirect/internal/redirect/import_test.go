package redirect_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/linkcredit/linkcredit/pkg/errs"

	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
)

// memLinks is a redirect.LinkStore in memory. Like the PostgreSQL store's
// single INSERT ... ON CONFLICT, Upsert refuses a batch that names a code
// twice.
type memLinks struct {
	links   map[string]link.Link
	batches int
}

func (m *memLinks) Put(_ context.Context, l link.Link) (link.Link, bool, error) {
	_, had := m.links[l.Code]
	m.links[l.Code] = l
	return l, !had, nil
}

func (m *memLinks) Get(_ context.Context, code string) (link.Link, error) {
	return m.links[code], nil
}

func (m *memLinks) List(context.Context, string, string, int) ([]link.Link, error) { return nil, nil }

func (m *memLinks) Upsert(_ context.Context, links []link.Link) (created, updated int, err error) {
	m.batches++
	seen := map[string]bool{}
	for _, l := range links {
		if seen[l.Code] {
			return 0, 0, fmt.Errorf("ON CONFLICT DO UPDATE command cannot affect row a second time (code %s)", l.Code)
		}
		seen[l.Code] = true
	}
	for _, l := range links {
		if _, had := m.links[l.Code]; had {
			updated++
		} else {
			created++
		}
		m.links[l.Code] = l
	}
	return created, updated, nil
}

func (m *memLinks) Changes(_ context.Context, since string, _ func(linktable.Link) error) (string, error) {
	return since, nil
}

func linkService(t *testing.T, existing ...string) (redirect.Service, *memLinks, *linktable.Table) {
	t.Helper()
	store := &memLinks{links: map[string]link.Link{}}
	for _, code := range existing {
		store.links[code] = link.Link{Code: code, Partner: "edx", CourseID: "old", Destination: "https://old.example/", Active: true}
	}
	table := linktable.New(0)
	return redirect.New(redirect.Config{}, redirect.Deps{Store: store, Table: table}), store, table
}

// TestImportCountsEveryRowOnce: created + updated + failed = rows, in
// NDJSON and CSV alike; a code on several valid rows is written once, with
// the last row's fields, and each row after the first counts as updated
// (it replaced what the one before it created or updated), with no error.
func TestImportCountsEveryRowOnce(t *testing.T) {
	const header = "code,partner,course_id,destination\n"
	row := func(code, course string) string {
		return fmt.Sprintf(`{"code":%q,"partner":"edx","course_id":%q,"destination":"https://edx.example/%s"}`+"\n", code, course, course)
	}
	tests := []struct {
		name, format, in string
		existing         []string // codes stored before the import
		rows, created    int
		updated, failed  int
		want             map[string]string // code -> the course id stored
	}{
		{"NDJSON: a code twice", feed.NDJSON, row("a", "c1") + row("a", "c2"), nil, 2, 1, 1, 0, map[string]string{"a": "c2"}},
		{"NDJSON: a code three times among others", feed.NDJSON, row("a", "c1") + row("b", "c1") + row("a", "c2") + row("a", "c3"), nil,
			4, 2, 2, 0, map[string]string{"a": "c3", "b": "c1"}},
		{"NDJSON: a stored code twice", feed.NDJSON, row("a", "c1") + row("a", "c2"), []string{"a"}, 2, 0, 2, 0, map[string]string{"a": "c2"}},
		{"NDJSON: an invalid row between", feed.NDJSON, row("a", "c1") + `{"code":"a","partner":"edx"}` + "\n" + row("a", "c3"), nil,
			3, 1, 1, 1, map[string]string{"a": "c3"}},
		{"NDJSON: the later row invalid", feed.NDJSON, row("a", "c1") + `{"code":"a","partner":"edx","course_id":"c2","destination":"ftp://x/"}` + "\n", nil,
			2, 1, 0, 1, map[string]string{"a": "c1"}},
		{"CSV: a code twice", feed.CSV, header + "a,edx,c1,https://edx.example/c1\na,edx,c2,https://edx.example/c2\n", nil,
			2, 1, 1, 0, map[string]string{"a": "c2"}},
		{"CSV: a stored code twice and a new one", feed.CSV, header + "a,edx,c1,https://edx.example/c1\nb,edx,c1,https://edx.example/c1\na,edx,c2,https://edx.example/c2\n",
			[]string{"a"}, 3, 1, 2, 0, map[string]string{"a": "c2", "b": "c1"}},
		{"CSV: a bad row of the code", feed.CSV, header + "a,edx,c1,https://edx.example/c1\na,edx,,https://edx.example/c2\n", nil,
			2, 1, 0, 1, map[string]string{"a": "c1"}},
		{"CSV: an IRI destination stored as a URI", feed.CSV, header + "a,edx,c1,https://bücher.example/kurs/é?id={click_id}\n", nil,
			1, 1, 0, 0, map[string]string{"a": "c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, store, _ := linkService(t, tt.existing...)
			rows, err := feed.NewReader(tt.format, strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.ImportLinks(context.Background(), rows)
			if err != nil {
				t.Fatalf("ImportLinks: %v", err)
			}
			if res.Rows != tt.rows || res.Created != tt.created || res.Updated != tt.updated || res.Failed != tt.failed {
				t.Fatalf("rows %d created %d updated %d failed %d, want %d %d %d %d (errors %+v)",
					res.Rows, res.Created, res.Updated, res.Failed, tt.rows, tt.created, tt.updated, tt.failed, res.Errors)
			}
			if res.Created+res.Updated+res.Failed != res.Rows {
				t.Fatalf("counts do not add up: %+v", res)
			}
			lines := map[int]bool{} // a row has an error per bad field
			for _, e := range res.Errors {
				lines[e.Line] = true
			}
			if len(lines) != tt.failed {
				t.Fatalf("errors on %d rows for %d failed rows: %+v", len(lines), tt.failed, res.Errors)
			}
			for code, course := range tt.want {
				if got := store.links[code]; got.CourseID != course || strings.ContainsFunc(got.Destination, func(r rune) bool { return r > 0x7f }) {
					t.Errorf("stored %s = %+v, want course %s and an ASCII destination", code, got, course)
				}
			}
		})
	}
}

// TestImportCountsAcrossBatches: a code in two batches is created by the
// first and updated by the second, as the store says.
func TestImportCountsAcrossBatches(t *testing.T) {
	var b strings.Builder
	b.WriteString("code,partner,course_id,destination\n")
	const n = 5001 // one more than a batch
	for i := range n - 1 {
		fmt.Fprintf(&b, "c%d,edx,c,https://edx.example/\n", i)
	}
	b.WriteString("c0,edx,last,https://edx.example/\n")
	svc, store, _ := linkService(t)
	rows, _ := feed.NewReader(feed.CSV, strings.NewReader(b.String()))
	res, err := svc.ImportLinks(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != n || res.Created != n-1 || res.Updated != 1 || res.Failed != 0 || store.batches != 2 || store.links["c0"].CourseID != "last" {
		t.Fatalf("%+v in %d batches, c0 %+v", res, store.batches, store.links["c0"])
	}
}

// A feed that cannot be read to its end stores the links of the rows read
// before the break, those of the unfinished batch too, and its error says
// how many were stored: a 400 whose links are partly live names them (from
// a limits check: 5,000 of 6,000 rows stored, the answer a bare 400).
func TestImportBrokenOffSaysWhatItStored(t *testing.T) {
	var b strings.Builder
	b.WriteString("code,partner,course_id,destination\n")
	const n = 6000
	for i := range n {
		fmt.Fprintf(&b, "c%d,edx,c,https://edx.example/\n", i)
	}
	b.WriteString("bad,edx,c,https://edx.example/\n")
	fmt.Fprintf(&b, "\"%s\",edx,c,https://edx.example/\nafter,edx,c,https://edx.example/\n", strings.Repeat("x", feed.MaxLineBytes+8<<10))
	svc, store, _ := linkService(t, "bad")
	rows, _ := feed.NewReader(feed.CSV, strings.NewReader(b.String()))
	res, err := svc.ImportLinks(context.Background(), rows)
	if err == nil {
		t.Fatalf("no error for a feed broken off, %+v", res)
	}
	if len(store.links) != n+1 || store.links["c5999"].Code == "" || store.links["after"].Code != "" {
		t.Fatalf("%d links stored, want the %d rows before the break and the one there before", len(store.links), n+1)
	}
	if msg := err.Error(); !strings.Contains(msg, "6000 created, 1 updated, 0 rows failed") {
		t.Fatalf("error %q does not say what was stored", msg)
	}
}

// A chunked feed cut at the body's cap (the transport's feedBody makes
// that a 413) keeps its kind: the answer is a 413 that says which rows
// were stored before the cap, not a bare 413 whose rows are partly live.
func TestImportCutAtTheCapIs413SayingWhatItStored(t *testing.T) {
	feedText := "code,partner,course_id,destination\nc1,edx,c,https://edx.example/\nc2,edx,c,https://edx.example/\n"
	capped := io.MultiReader(strings.NewReader(feedText),
		iotest.ErrReader(errs.Newf(errs.TooLarge, "body_too_large", "the feed is larger than %d bytes", 100)))
	svc, store, _ := linkService(t)
	rows, _ := feed.NewReader(feed.CSV, capped)
	_, err := svc.ImportLinks(context.Background(), rows)
	if errs.KindOf(err) != errs.TooLarge {
		t.Fatalf("error %v, want a 413", err)
	}
	code, msg := errs.Public(err)
	if code != "body_too_large" || !strings.Contains(msg, "larger than 100 bytes") || !strings.Contains(msg, "2 created, 0 updated, 0 rows failed") {
		t.Fatalf("%s: %q does not say the cap and what was stored", code, msg)
	}
	if len(store.links) != 2 {
		t.Fatalf("%d links stored, want the 2 rows before the cap", len(store.links))
	}
}

// TestPutLinkStoresTheURI: PUT stores and answers an IRI destination as
// its ASCII URI, and the redirect table serves that.
func TestPutLinkStoresTheURI(t *testing.T) {
	tests := []struct{ dest, want string }{
		{"https://x.org/kurs/é?q=ü&id={click_id}", "https://x.org/kurs/%C3%A9?q=%C3%BC&id={click_id}"},
		{"https://bücher.example/", "https://xn--bcher-kva.example/"},
		{"https://x.org/a%2Fb?Q={click_id}", "https://x.org/a%2Fb?Q={click_id}"},
	}
	for _, tt := range tests {
		svc, store, table := linkService(t)
		got, _, err := svc.PutLink(context.Background(), link.Link{Code: "a", Partner: "edx", CourseID: "c", Destination: tt.dest, Active: true})
		if err != nil || got.Destination != tt.want || store.links["a"].Destination != tt.want {
			t.Fatalf("PutLink(%q) = %q, %v; stored %q; want %q", tt.dest, got.Destination, err, store.links["a"].Destination, tt.want)
		}
		if served, ok := table.Get("a"); !ok || served.Destination != tt.want {
			t.Fatalf("the table serves %+v, want %q", served, tt.want)
		}
	}
}
