package kafkax

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecurityValidate(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		s    Security
		ok   bool
	}{
		{"plaintext", Security{}, true},
		{"tls with system roots", Security{TLS: true}, true},
		{"scram over tls", Security{TLS: true, Mechanism: "SCRAM-SHA-512", Username: "redirect", Password: "p"}, true},
		{"scram without a password", Security{Mechanism: "SCRAM-SHA-512", Username: "redirect"}, false},
		{"a user without a mechanism", Security{Username: "u", Password: "p"}, false},
		{"unknown mechanism", Security{Mechanism: "GSSAPI", Username: "u", Password: "p"}, false},
		{"CA file without TLS", Security{CAFile: notPEM}, false},
		{"CA file that is not PEM", Security{TLS: true, CAFile: notPEM}, false},
		{"missing CA file", Security{TLS: true, CAFile: "/nonexistent/ca.crt"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}
