package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reader reads typed settings from an environment.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// FromMap is a getenv over a map, for tests.
func FromMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func (r *Reader) fail(name, value, problem string) {
	r.errs = append(r.errs, fmt.Errorf("config: %s=%q: %s", name, value, problem))
}

// Fail records a problem with a variable that a caller checked itself.
func (r *Reader) Fail(name, value, problem string) { r.fail(name, value, problem) }

// Err returns the first bad setting (one line naming the variable), or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs[0]
}

func (r *Reader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(r.getenv(name))
	return v, v != ""
}

// String returns the variable, or def when it is unset or blank.
func (r *Reader) String(name, def string) string {
	if v, ok := r.lookup(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset.
func (r *Reader) Required(name string) string {
	v, ok := r.lookup(name)
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("config: %s is required", name))
	}
	return v
}

// OneOf returns the variable, which must be one of allowed, or def.
func (r *Reader) OneOf(name, def string, allowed ...string) string {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

// Int returns the variable as an integer within [min, max].
func (r *Reader) Int(name string, def, min, max int) int {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, v, "not an integer")
		return def
	}
	if n < min || n > max {
		r.fail(name, v, fmt.Sprintf("must be between %d and %d", min, max))
		return def
	}
	return n
}

// Bytes returns a size such as "512MiB", "2GB", "64KiB" or "1048576".
func (r *Reader) Bytes(name string, def int64) int64 {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	n, err := ParseBytes(v)
	if err != nil {
		r.fail(name, v, err.Error())
		return def
	}
	return n
}

// ParseBytes parses a non-negative size with an optional unit
// (B, KB, MB, GB, KiB, MiB, GiB).
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("not a size such as 512MiB")
	}
	return n * mult, nil
}

// Duration returns the variable as a Go duration ("250ms", "30s") within
// [min, max].
func (r *Reader) Duration(name string, def, min, max time.Duration) time.Duration {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, v, "not a duration such as 30s")
		return def
	}
	if d < min || d > max {
		r.fail(name, v, fmt.Sprintf("must be between %s and %s", min, max))
		return def
	}
	return d
}

// Bool accepts true/false, 1/0, yes/no, on/off.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.fail(name, v, "not a boolean (true or false)")
	return def
}

// Ratio returns the variable as a ratio in [0, 1] (for sampling rates;
// never for money).
func (r *Reader) Ratio(name string, def float64) float64 {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		r.fail(name, v, "not a ratio between 0 and 1")
		return def
	}
	return f
}

// Addr returns a host:port listen address.
func (r *Reader) Addr(name, def string) string {
	v := r.String(name, def)
	if fd, ok := strings.CutPrefix(v, "fd:"); ok { // an inherited socket (httpx.Listen)
		if n, err := strconv.Atoi(fd); err != nil || n < 3 {
			r.fail(name, v, "fd:N needs a descriptor number N >= 3")
		}
		return v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		r.fail(name, v, "not a host:port address")
		return v
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		r.fail(name, v, "port must be 0-65535")
	}
	_ = host
	return v
}

// List splits a comma-separated variable, dropping blanks.
func (r *Reader) List(name string, def []string) []string {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Brokers returns a comma-separated list of host:port Kafka brokers.
func (r *Reader) Brokers(name string, def []string) []string {
	brokers := r.List(name, def)
	if len(brokers) == 0 {
		r.fail(name, "", "needs at least one host:port")
	}
	for _, b := range brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			r.fail(name, strings.Join(brokers, ","), fmt.Sprintf("%q is not host:port", b))
			break
		}
	}
	return brokers
}

// URL returns an absolute URL with one of the given schemes.
func (r *Reader) URL(name, def string, schemes ...string) string {
	v := r.String(name, def)
	if v == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		r.fail(name, redact(v), "not an absolute URL")
		return v
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.fail(name, redact(v), "scheme must be one of "+strings.Join(schemes, ", "))
	return v
}

// redact hides a password in a URL before it goes into an error message,
// also in one that is not what it should be: with user information that
// url.Parse sees, the standard redaction; else, everything up to the last
// '@' (after "://" when there is one) is hidden, as a password with an
// unescaped '%', '#', '/' or '?' hides the user information from url.Parse
// or breaks it; a value with no '@' that names a password (a key=value
// connection string) is not shown at all.
func redact(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return u.Redacted()
	}
	at := strings.LastIndex(v, "@")
	if at < 0 {
		if strings.Contains(strings.ToLower(v), "password") {
			return "xxxxx"
		}
		return v
	}
	if i := strings.Index(v, "://"); i >= 0 && i < at {
		return v[:i+3] + "xxxxx" + v[at:]
	}
	return "xxxxx" + v[at:]
}

// CIDRs parses a comma-separated list of CIDR prefixes.
func (r *Reader) CIDRs(name string, def []string) []*net.IPNet {
	var out []*net.IPNet
	for _, s := range r.List(name, def) {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			r.fail(name, s, "not a CIDR prefix such as 10.0.0.0/8")
			continue
		}
		out = append(out, n)
	}
	return out
}
