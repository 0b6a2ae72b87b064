package main

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/services/reporting/internal/postgres"
)

// TestIngestSettingsRefused: an ingest setting out of its range stops
// start-up with the variable's name, before anything is connected to.
func TestIngestSettingsRefused(t *testing.T) {
	t.Parallel()
	at := clock.Fixed(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	for _, tt := range []struct{ name, value string }{
		{"INGEST_BATCH_WAIT", "0s"},
		{"INGEST_BATCH_WAIT", "1h"},
		{"INGEST_BATCH_WAIT", "soon"},
		{"INGEST_BATCH", "0"},
		{"INGEST_CONSUMERS", "65"},
		{"INGEST_SESSION_TIMEOUT", "10ms"},
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			env := map[string]string{"ADMIN_TOKEN": "settings-test-token-0123456789abcdef",
				"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "KAFKA_BROKERS": "127.0.0.1:1", tt.name: tt.value}
			err := run(t.Context(), at, nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("run = %v, want an error naming %s", err, tt.name)
			}
		})
	}
}

// TestStoreURL: the store's sessions carry the application name the
// attribution lock's protocol tells its own sessions by, whatever
// DATABASE_URL says, with reporting's schema and no JIT.
func TestStoreURL(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"postgres://u@db:5432/linkcredit?sslmode=disable",
		"postgres://u@db:5432/linkcredit?application_name=mine&search_path=other",
	} {
		got, err := storeURL(in)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("application_name") != postgres.ApplicationName || q.Get("search_path") != postgres.Schema || q.Get("jit") != "off" {
			t.Errorf("storeURL(%q) = %q", in, got)
		}
	}
}
