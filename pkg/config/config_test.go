package config

import (
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	env := FromMap(map[string]string{
		"ADDR":     "127.0.0.1:8080",
		"N":        "12",
		"D":        "250ms",
		"B":        "yes",
		"SIZE":     "512MiB",
		"BROKERS":  "a:9092, b:9092",
		"DB":       "postgres://u:secret@h/db?sslmode=disable",
		"NETS":     "10.0.0.0/8,192.168.0.0/16",
		"BLANK":    "   ",
		"RATIO":    "0.25",
		"REQUIRED": "x",
	})
	r := New(env)
	if got := r.Addr("ADDR", ""); got != "127.0.0.1:8080" {
		t.Errorf("Addr = %q", got)
	}
	if got := r.Int("N", 1, 1, 100); got != 12 {
		t.Errorf("Int = %d", got)
	}
	if got := r.Duration("D", time.Second, 0, time.Minute); got != 250*time.Millisecond {
		t.Errorf("Duration = %v", got)
	}
	if !r.Bool("B", false) {
		t.Error("Bool = false")
	}
	if got := r.Bytes("SIZE", 0); got != 512<<20 {
		t.Errorf("Bytes = %d", got)
	}
	if got := r.Brokers("BROKERS", nil); len(got) != 2 || got[1] != "b:9092" {
		t.Errorf("Brokers = %q", got)
	}
	if got := r.URL("DB", "", "postgres", "postgresql"); !strings.HasPrefix(got, "postgres://") {
		t.Errorf("URL = %q", got)
	}
	if got := r.CIDRs("NETS", nil); len(got) != 2 {
		t.Errorf("CIDRs = %v", got)
	}
	if got := r.String("BLANK", "def"); got != "def" {
		t.Errorf("blank String = %q, want default", got)
	}
	if got := r.Ratio("RATIO", 1); got != 0.25 {
		t.Errorf("Ratio = %v", got)
	}
	if got := r.String("UNSET", "def"); got != "def" {
		t.Errorf("String default = %q", got)
	}
	_ = r.Required("REQUIRED")
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
}

func TestReaderNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		read func(*Reader)
		want string
	}{
		{"bad int", map[string]string{"N": "ten"}, func(r *Reader) { r.Int("N", 1, 0, 10) }, `config: N="ten": not an integer`},
		{"int range", map[string]string{"N": "11"}, func(r *Reader) { r.Int("N", 1, 0, 10) }, `config: N="11": must be between 0 and 10`},
		{"bad duration", map[string]string{"D": "5"}, func(r *Reader) { r.Duration("D", 0, 0, time.Hour) }, `config: D="5": not a duration such as 30s`},
		{"bad addr", map[string]string{"REDIRECT_ADDR": "8080"}, func(r *Reader) { r.Addr("REDIRECT_ADDR", "") }, `config: REDIRECT_ADDR="8080": not a host:port address`},
		{"bad inherited socket", map[string]string{"REDIRECT_ADDR": "fd:2"}, func(r *Reader) { r.Addr("REDIRECT_ADDR", "") }, `config: REDIRECT_ADDR="fd:2": fd:N needs a descriptor number N >= 3`},
		{"bad bool", map[string]string{"B": "maybe"}, func(r *Reader) { r.Bool("B", false) }, `config: B="maybe": not a boolean`},
		{"bad broker", map[string]string{"KAFKA_BROKERS": "localhost"}, func(r *Reader) { r.Brokers("KAFKA_BROKERS", nil) }, `config: KAFKA_BROKERS="localhost": "localhost" is not host:port`},
		{"url scheme redacts password", map[string]string{"DATABASE_URL": "mysql://u:hunter2@h/db"}, func(r *Reader) { r.URL("DATABASE_URL", "", "postgres") }, `config: DATABASE_URL="mysql://u:xxxxx@h/db": scheme must be one of postgres`},
		// A password with an unescaped '%', '#', '/' or '?' makes the URL
		// unparseable: it is hidden all the same.
		{"unparseable url redacts password", map[string]string{"DATABASE_URL": "postgres://u:s3cr%t@h:5432/db"}, func(r *Reader) { r.URL("DATABASE_URL", "", "postgres") }, `config: DATABASE_URL="postgres://xxxxx@h:5432/db": not an absolute URL`},
		{"unparseable url redacts password with / and ?", map[string]string{"DATABASE_URL": "postgres://u:p/ss?x%@h/db"}, func(r *Reader) { r.URL("DATABASE_URL", "", "postgres") }, `config: DATABASE_URL="postgres://xxxxx@h/db": not an absolute URL`},
		{"password hidden from url.Parse", map[string]string{"DATABASE_URL": "mysql://u:12/se@h/db"}, func(r *Reader) { r.URL("DATABASE_URL", "", "postgres") }, `config: DATABASE_URL="mysql://xxxxx@h/db": scheme must be one of postgres`},
		{"no scheme", map[string]string{"DATABASE_URL": "linkcredit:s3cret@db:5432/linkcredit"}, func(r *Reader) { r.URL("DATABASE_URL", "", "postgres") }, `config: DATABASE_URL="xxxxx@db:5432/linkcredit": scheme must be one of postgres`},
		{"key=value string", map[string]string{"DATABASE_URL": "host=db user=u password=s3cret dbname=x"}, func(r *Reader) { r.URL("DATABASE_URL", "", "postgres") }, `config: DATABASE_URL="xxxxx": not an absolute URL`},
		{"missing required", map[string]string{}, func(r *Reader) { r.Required("ADMIN_TOKEN") }, `config: ADMIN_TOKEN is required`},
		{"bad size", map[string]string{"S": "lots"}, func(r *Reader) { r.Bytes("S", 0) }, `config: S="lots": not a size such as 512MiB`},
		{"not one of", map[string]string{"L": "loud"}, func(r *Reader) { r.OneOf("L", "info", "debug", "info") }, `config: L="loud": must be one of debug, info`},
		{"bad cidr", map[string]string{"C": "10.0.0.0/99"}, func(r *Reader) { r.CIDRs("C", nil) }, `config: C="10.0.0.0/99": not a CIDR prefix`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(FromMap(tt.env))
			tt.read(r)
			err := r.Err()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Err = %v, want prefix %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("Err is not one line: %q", err)
			}
		})
	}
}
