package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/deploy/loadgen"
)

func TestTheCourseFeed(t *testing.T) {
	links, err := feedLinks(courses)
	if err != nil {
		t.Fatal(err)
	}
	partners := map[string]bool{}
	for _, p := range demoPartners() {
		partners[p.ID] = true
		if p.Secret == "" && p.Adapter == "" {
			t.Errorf("partner %s can send nothing", p.ID)
		}
		if p.Token != "" && len(p.Token) < 16 {
			t.Errorf("partner %s: postback token %q is short", p.ID, p.Token)
		}
	}
	code := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	seen := map[string]bool{}
	for _, l := range links {
		if !code.MatchString(l.Code) || seen[l.Code] || !partners[l.Partner] || l.CourseID == "" || l.Title == "" {
			t.Errorf("feed row %+v", l)
		}
		seen[l.Code] = true
	}
	if len(links) < 20 {
		t.Errorf("%d links in the feed", len(links))
	}
}

// headerFirstCellOnly is true while feedLinks checks only the first cell
// of the header: its comment and its error say the feed is
// code,partner,course_id,title, yet "code,title,partner,course_id" is
// taken with its columns read as partner, course_id and title (a defect
// found by FuzzFeedLinks, reported, not fixed here). FuzzFeedLinks lets
// such a header pass while this is true; set it false once the whole
// header is checked.
const headerFirstCellOnly = false

// FuzzFeedLinks: a feed is taken only when encoding/csv reads it (every
// record of the header's four fields), its header is
// code,partner,course_id,title and it has rows; it then gives one link per
// row, in order, with the row's cells as they are. A feed refused has no
// links. Any links written with that header by encoding/csv read back as
// themselves (a cell with a CR is left out: RFC 4180 readers turn a quoted
// CRLF into LF).
func FuzzFeedLinks(f *testing.F) {
	f.Add(courses, "ml-101", "coursera", "ml", "Machine Learning, Part 1")
	f.Add([]byte("code,partner,course_id,title\n"), "", "", "", "")
	f.Add([]byte("code,partner,course_id,title\na,b\n"), " a", "\"", "\n", "é")
	f.Add([]byte("\"unterminated"), "a", "b", "c", "d")
	f.Add([]byte("code,title,partner,course_id\na,T,p,c\n"), "a", "b", "c", "d") // headerFirstCellOnly
	f.Fuzz(func(t *testing.T, feed []byte, code, partner, course, title string) {
		links, err := feedLinks(feed)
		records, rerr := csv.NewReader(bytes.NewReader(feed)).ReadAll()
		header := []string{"code", "partner", "course_id", "title"}
		wellFormed := rerr == nil && len(records) >= 2 && slices.Equal(records[0], header)
		switch {
		case err != nil && links != nil:
			t.Fatalf("refused (%v) with %d links", err, len(links))
		case err != nil && wellFormed:
			t.Fatalf("refused a well-formed feed: %v", err)
		case err == nil && !wellFormed && !(headerFirstCellOnly && rerr == nil && len(records) >= 2 && len(records[0]) == 4 && records[0][0] == "code"):
			t.Fatalf("took a feed (%d links) encoding/csv reads as %q, %v", len(links), records, rerr)
		case err == nil:
			if len(links) != len(records)-1 {
				t.Fatalf("%d links from %d rows", len(links), len(records)-1)
			}
			for i, l := range links {
				if r := records[i+1]; l != (loadgen.Link{Code: r[0], Partner: r[1], CourseID: r[2], Title: r[3]}) {
					t.Fatalf("row %q read as %+v", r, l)
				}
			}
		}
		if strings.Contains(code+partner+course+title, "\r") {
			return
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write(header)
		_ = w.Write([]string{code, partner, course, title})
		_ = w.Write([]string{title, course, partner, code})
		w.Flush()
		want := []loadgen.Link{{Code: code, Partner: partner, CourseID: course, Title: title}, {Code: title, Partner: course, CourseID: partner, Title: code}}
		if got, err := feedLinks(b.Bytes()); err != nil || !slices.Equal(got, want) {
			t.Fatalf("%q read as %+v, %v; want %+v", b.String(), got, err, want)
		}
	})
}

func TestRefusesOtherHosts(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{
		{"run", "-token", "t", "-redirect", "10.1.2.3:8080"},
		{"demo", "-token", "t", "-reporting", "example.com:443"},
		{"webhooks", "-url", "https://example.com/v1/webhooks/x", "-secret", loadgen.NewSecret()},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, env, &out, &out)
		if !errors.Is(err, loadgen.ErrNotLoopback) {
			t.Errorf("loadgen %s: %v, want a refusal", strings.Join(args, " "), err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"nonsense"}, env, &out, &out); err == nil {
		t.Error("an unknown subcommand ran")
	}
	if err := run(context.Background(), []string{"run", "-data-dir", t.TempDir()}, env, &out, &out); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("no token: %v", err)
	}
}
