package main

import (
	"testing"

	"github.com/linkcredit/linkcredit/pkg/config"
)

func TestPublicBaseURL(t *testing.T) {
	tests := []struct {
		value, want string // want "" refused
	}{
		{"", "http://127.0.0.1:8081"},
		{"https://conversions.example.com", "https://conversions.example.com"},
		{"https://example.com/linkcredit/", "https://example.com/linkcredit"},
		{"http://10.0.0.5:8081", "http://10.0.0.5:8081"},
		{"ftp://example.com", ""},
		{"example.com", ""},
		{"https://example.com?x=1", ""},
		{"https://example.com#top", ""},
		{"https://user:pass@example.com", ""},
		{"https:///path", ""},
	}
	for _, tt := range tests {
		env := config.New(config.FromMap(map[string]string{"PUBLIC_BASE_URL": tt.value}))
		got := publicBaseURL(env)
		err := env.Err()
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q accepted as %q", tt.value, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q = %q, %v; want %q", tt.value, got, err, tt.want)
		}
	}
}
