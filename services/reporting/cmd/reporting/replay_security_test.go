package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestReplayDialsKafkaWithTheConfiguredTLS: `reporting replay`, run in a
// pod with the pod's environment (docs/operations.md, "Replaying a
// topic"), must dial the brokers with KAFKA_TLS and KAFKA_SASL_* as the
// service does; it dialled plaintext, which a TLS-only listener refuses
// (a review found it). A TLS client's first byte is 0x16, a handshake
// record; a plaintext Kafka request starts with a 4-byte length, 0x00.
func TestReplayDialsKafkaWithTheConfiguredTLS(t *testing.T) {
	t.Parallel()
	dbURL := migratedDatabaseURL(t)
	now := clock.Fixed(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte(testkit.TestCA(t)), 0o600); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first := make(chan byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err == nil {
			first <- b[0]
		}
	}()

	env := map[string]string{
		"DATABASE_URL":         dbURL,
		"KAFKA_BROKERS":        ln.Addr().String(),
		"KAFKA_TLS":            "true",
		"KAFKA_TLS_CA_FILE":    ca,
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME":  "linkcredit-reporting",
		"KAFKA_SASL_PASSWORD":  "0123456789abcdef0123456789abcdef",
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, now, []string{"migrate"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, now, []string{"replay", "-schema", "reporting_rebuild"}, getenv, &out, io.Discard)
	}()
	select {
	case b := <-first:
		if b != 0x16 {
			t.Fatalf("replay's first byte to the broker is %#x, not a TLS handshake (0x16): it ignores KAFKA_TLS/KAFKA_SASL_* and dials plaintext", b)
		}
	case err := <-done:
		t.Fatalf("replay ended before dialling the broker: %v\n%s", err, out.String())
	case <-ctx.Done():
		t.Fatal("replay never dialled the broker")
	}
	cancel()
	<-done
}
