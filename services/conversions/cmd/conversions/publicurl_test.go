package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

func TestPublicBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value, addr, want string // want "" refused, "-" none yet (the listener's)
	}{
		{"", "127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"", "127.0.0.1:28081", "http://127.0.0.1:28081"},
		{"", "10.0.0.5:9000", "http://10.0.0.5:9000"},
		{"", "localhost:28081", "http://localhost:28081"},
		{"", ":8081", "http://127.0.0.1:8081"},
		{"", "0.0.0.0:28081", "http://127.0.0.1:28081"},
		{"", "[::]:28081", "http://[::1]:28081"},
		{"", "[::1]:28081", "http://[::1]:28081"},
		{"", "[2001:db8::5]:8081", "http://[2001:db8::5]:8081"},
		{"", "[fe80::1%eth0]:8081", "http://[fe80::1%25eth0]:8081"},
		{"", "fd:3", "-"},
		{"", "127.0.0.1:0", "-"},
		{"", ":0", "-"},
		{"https://conversions.example.com", "127.0.0.1:28081", "https://conversions.example.com"},
		{"https://conversions.example.com", "fd:3", "https://conversions.example.com"},
		{"http://127.0.0.1:8081", "0.0.0.0:28081", "http://127.0.0.1:8081"},
		{"https://example.com/linkcredit/", "127.0.0.1:8081", "https://example.com/linkcredit"},
		{"http://10.0.0.5:8081", "127.0.0.1:8081", "http://10.0.0.5:8081"},
		{"ftp://example.com", "127.0.0.1:8081", ""},
		{"example.com", "127.0.0.1:8081", ""},
		{"https://example.com?x=1", "127.0.0.1:8081", ""},
		{"https://example.com#top", "127.0.0.1:8081", ""},
		{"https://user:pass@example.com", "127.0.0.1:8081", ""},
		{"https:///path", "127.0.0.1:8081", ""},
	}
	for _, tt := range tests {
		env := config.New(config.FromMap(map[string]string{"PUBLIC_BASE_URL": tt.value}))
		got := publicBaseURL(env, tt.addr)
		err := env.Err()
		switch tt.want {
		case "":
			if err == nil {
				t.Errorf("%q (listening on %s) accepted as %q", tt.value, tt.addr, got)
			}
		case "-":
			if err != nil || got != "" {
				t.Errorf("%q (listening on %s) = %q, %v; want none until the listener is bound", tt.value, tt.addr, got, err)
			}
		default:
			if err != nil || got != tt.want {
				t.Errorf("%q (listening on %s) = %q, %v; want %q", tt.value, tt.addr, got, err, tt.want)
			}
		}
	}
}

// A listener bound to port 0 or inherited (fd:N) names its port only once
// bound: the default is then the bound address.
func TestListenBaseURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:41234", "http://127.0.0.1:41234"},
		{"[::]:41234", "http://[::1]:41234"},
		{"0.0.0.0:41234", "http://127.0.0.1:41234"},
		{"[::1]:41234", "http://[::1]:41234"},
		{"fd:3", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1:http", ""},
	} {
		if got := listenBaseURL(tt.addr); got != tt.want {
			t.Errorf("listenBaseURL(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// Without PUBLIC_BASE_URL, a service gives out postback URLs on the
// address it listens on (here an inherited socket, fd:3, on a port of the
// test's choosing), not on 127.0.0.1:8081.
func TestPostbackURLDefaultsToTheListenAddress(t *testing.T) {
	t.Parallel()
	s := setup(t, migratedDatabaseURL(t), testkit.Now(t))
	for _, tt := range []struct {
		name, public string // public "": PUBLIC_BASE_URL unset
		want         func(base string) string
	}{
		{"unset", "", func(base string) string { return base }},
		{"set", "https://hooks.example.com", func(string) string { return "https://hooks.example.com" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := s.start(t, map[string]string{"PUBLIC_BASE_URL": tt.public})
			r := do(t, "GET", p.Base+"/v1/partners/coursera/postback-url", nil, "Authorization", "Bearer "+adminToken)
			var b struct {
				URL string `json:"url"`
			}
			if r.status != 200 || json.Unmarshal([]byte(r.body), &b) != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if want := tt.want(p.Base) + "/v1/postback/coursera?"; !strings.HasPrefix(b.URL, want) {
				t.Fatalf("url %s, want it to start %s", b.URL, want)
			}
		})
	}
}
