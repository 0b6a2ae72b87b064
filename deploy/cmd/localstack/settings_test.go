package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two listeners of the stack on one port are refused before anything
// starts, naming both variables (a newcomer's METRICS_ADDR=…:23090 took
// 23090–23092, and KAFKA_ADDR was 23092: reporting failed to bind only
// once PostgreSQL and the broker were up).
func TestListenersOnDistinctPorts(t *testing.T) {
	base := map[string]string{"DATA_DIR": t.TempDir(), "PG_PORT": "23432", "KAFKA_ADDR": "127.0.0.1:23092",
		"REDIRECT_ADDR": "127.0.0.1:23080", "CONVERSIONS_ADDR": "127.0.0.1:23081", "REPORTING_ADDR": "127.0.0.1:23082"}
	for _, tt := range []struct {
		name string
		set  map[string]string
		want string // in the error; "" for none
	}{
		{"distinct", nil, ""},
		{"metrics run into kafka", map[string]string{"METRICS_ADDR": "127.0.0.1:23090"}, "KAFKA_ADDR and METRICS_ADDR (reporting) both want port 23092"},
		{"metrics clear", map[string]string{"METRICS_ADDR": "127.0.0.1:23190"}, ""},
		{"a service on postgres's port", map[string]string{"REPORTING_ADDR": "127.0.0.1:23432"}, "PG_PORT and REPORTING_ADDR"},
		{"every address clashes", map[string]string{"CONVERSIONS_ADDR": ":23080"}, "REDIRECT_ADDR and CONVERSIONS_ADDR"},
		{"localhost is 127.0.0.1", map[string]string{"REDIRECT_ADDR": "localhost:23180", "CONVERSIONS_ADDR": "127.0.0.1:23180"}, "REDIRECT_ADDR and CONVERSIONS_ADDR"},
		{"other loopback addresses do not", map[string]string{"CONVERSIONS_ADDR": "127.0.0.2:23080"}, ""},
		{"port 0 picks its own", map[string]string{"REDIRECT_ADDR": "127.0.0.1:0", "CONVERSIONS_ADDR": "127.0.0.1:0"}, ""},
		{"an outside database needs no port", map[string]string{"DATABASE_URL": "postgres://db.example/x", "REPORTING_ADDR": "127.0.0.1:23432"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := readSettings(func(k string) string { return env[k] })
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// DATA_DIR/admin-token always holds the token the stack runs with, so
// make demo (loadgen) signs in with it whether ADMIN_TOKEN was given or
// generated, and a token left by an earlier run is not used in its place.
func TestAdminTokenFile(t *testing.T) {
	const given = "lc_given_token_of_at_least_32_characters"
	for _, tt := range []struct {
		name, before, given string
		want                string // "" for a new lc_ token
	}{
		{"given, no file yet", "", given, given},
		{"given replaces an earlier run's", "lc_an_earlier_runs_token_of_32_characters", given, given},
		{"none: the earlier run's is kept", "lc_an_earlier_runs_token_of_32_characters", "", "lc_an_earlier_runs_token_of_32_characters"},
		{"none and no file: a new one", "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "admin-token")
			if tt.before != "" {
				if err := os.WriteFile(path, []byte(tt.before+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := adminToken(dir, tt.given)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got != tt.want || tt.want == "" && (!strings.HasPrefix(got, "lc_") || len(got) < 32) {
				t.Fatalf("token %q, want %q", got, tt.want)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(b)) != got {
				t.Fatalf("%s holds %q, the stack runs with %q", path, b, got)
			}
			if fi, _ := os.Stat(path); tt.given != "" && fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
			}
		})
	}
}
