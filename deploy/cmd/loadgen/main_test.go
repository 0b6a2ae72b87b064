package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
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

func FuzzFeedLinks(f *testing.F) {
	f.Add(courses)
	f.Add([]byte("code,partner,course_id,title\n"))
	f.Add([]byte("code,partner,course_id,title\na,b\n"))
	f.Add([]byte("\"unterminated"))
	f.Fuzz(func(t *testing.T, feed []byte) {
		links, err := feedLinks(feed)
		if err == nil && len(links) == 0 {
			t.Error("no error and no links")
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
