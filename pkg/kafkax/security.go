package kafkax

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Security is how a service authenticates to the brokers: TLS (verifying
// the cluster against CAFile, or the system roots) and SASL (SCRAM-SHA-512,
// SCRAM-SHA-256 or PLAIN). The zero value is a plaintext connection, as
// the local stack uses. Strimzi's TLS listener with SCRAM users is what
// the k8s prod overlay runs.
type Security struct {
	TLS       bool
	CAFile    string
	Mechanism string // "", "SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"
	Username  string
	Password  string
}

// Validate reports settings that cannot work.
func (s Security) Validate() error {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" {
			return fmt.Errorf("kafkax: a SASL user needs a mechanism")
		}
	case "SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN":
		if s.Username == "" || s.Password == "" {
			return fmt.Errorf("kafkax: SASL %s needs a username and a password", s.Mechanism)
		}
	default:
		return fmt.Errorf("kafkax: unknown SASL mechanism %q (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN)", s.Mechanism)
	}
	if s.CAFile != "" && !s.TLS {
		return fmt.Errorf("kafkax: a CA file needs TLS on")
	}
	_, err := s.tlsConfig()
	return err
}

func (s Security) tlsConfig() (*tls.Config, error) {
	if !s.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafkax: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafkax: CA file %s holds no PEM certificate", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func (s Security) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	default:
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
}

// transport returns a transport of its own with these settings (a probe
// must not share kafka-go's process-wide transport and its caches).
func (s Security) transport(timeout time.Duration) (*kafka.Transport, error) {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: timeout, IdleTimeout: time.Second, MetadataTTL: time.Second, TLS: tlsCfg, SASL: mech}, nil
}

// Dialer is the consumer side's equivalent of transport, for code that
// dials brokers or reads partitions itself (a replay, a tool).
func (s Security) Dialer() (*kafka.Dialer, error) {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tlsCfg, SASLMechanism: mech}, nil
}
