//go:build !race

package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// ruleFile is a PrometheusRule (prometheus-operator) whose spec is
// Prometheus' rule-file format, alerting rules only. The overlays' check
// validates it against the vendored CRD too (TestOverlaysBuildAndCheck).
type ruleFile struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec ruleSpec `yaml:"spec"`
}

// ruleSpec is Prometheus' rule-file format.
type ruleSpec struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	alertName    = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	identifier   = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:.]*`)
	// metricPrefixes are the prefixes of the metrics linkcredit exports.
	metricPrefixes = []string{"conversions_", "redirect_", "reporting_", "kafkax_", "endpoint_", "http_"}
)

// TestAlertRules checks every Prometheus rule file under k8s/: a
// PrometheusRule (no unknown keys), unique alert names, a `for` Prometheus
// reads, a severity, annotations whose templates parse, and expressions
// that Prometheus' PromQL parser takes and whose metric names are
// Prometheus names (no OTel dots) that docs/operations.md documents.
func TestAlertRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "k8s", "components", "*", "*.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.rules.yaml under k8s/components")
	}
	ops, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if rf.APIVersion != "monitoring.coreos.com/v1" || rf.Kind != "PrometheusRule" || rf.Metadata.Name == "" {
			t.Errorf("%s: %s %s %q, want a named monitoring.coreos.com/v1 PrometheusRule", f, rf.APIVersion, rf.Kind, rf.Metadata.Name)
		}
		if len(rf.Spec.Groups) == 0 {
			t.Errorf("%s: no groups", f)
		}
		for _, g := range rf.Spec.Groups {
			if g.Name == "" || len(g.Rules) == 0 {
				t.Errorf("%s: group %q is unnamed or empty", f, g.Name)
			}
			for _, r := range g.Rules {
				where := fmt.Sprintf("%s: %s", filepath.Base(f), r.Alert)
				if !alertName.MatchString(r.Alert) {
					t.Errorf("%s: alert name %q is not CamelCase", f, r.Alert)
				}
				if prev, dup := alerts[r.Alert]; dup {
					t.Errorf("%s: alert %s is also in %s", where, r.Alert, prev)
				}
				alerts[r.Alert] = filepath.Base(f)
				if !promDuration.MatchString(r.For) {
					t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
				}
				switch r.Labels["severity"] {
				case "info", "warning", "critical":
				default:
					t.Errorf("%s: severity %q, want info, warning or critical", where, r.Labels["severity"])
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: a summary and a description are required", where)
				}
				for k, a := range r.Annotations {
					// Prometheus defines these before expanding a template.
					_, err := template.New(k).Funcs(prometheusTemplateFuncs).Parse("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}" + a)
					if err != nil {
						t.Errorf("%s: annotation %s: %v", where, k, err)
					}
				}
				for _, problem := range checkExpr(r.Expr) {
					t.Errorf("%s: expr: %s", where, problem)
				}
				for _, m := range metricsIn(r.Expr) {
					if !bytes.Contains(ops, []byte(m)) {
						t.Errorf("%s: metric %s is not in docs/operations.md", where, m)
					}
				}
			}
		}
	}
	for _, want := range []string{"ConversionsOutboxParked", "KafkaConsumerRetrying"} {
		if alerts[want] == "" {
			t.Errorf("no alert %s", want)
		}
	}
}

// prometheusTemplateFuncs names the functions Prometheus gives alert
// templates besides text/template's own (its template package's
// FuncMap), so an annotation may use them and a misspelt one still fails.
var prometheusTemplateFuncs = func() template.FuncMap {
	m := template.FuncMap{}
	for _, name := range []string{"query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml",
		"match", "title", "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel", "humanize", "humanize1024",
		"humanizeDuration", "humanizePercentage", "humanizeTimestamp", "toTime", "pathPrefix", "externalURL",
		"parseDuration", "stripPort", "stripDomain"} {
		m[name] = func(...any) any { return nil }
	}
	return m
}()

// checkExpr finds what would stop Prometheus from loading a PromQL
// expression (its own parser, which also checks types: rate() of an
// instant vector, a comparison without a right side), and what would load
// but never fire: an identifier with a dot (an OTel metric name, which the
// Prometheus exporter writes with underscores) or no linkcredit metric.
func checkExpr(expr string) []string {
	var problems []string
	if strings.TrimSpace(expr) == "" {
		return []string{"empty"}
	}
	// The options Prometheus has by default: no experimental functions,
	// no unquoted UTF-8 names.
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(expr); err != nil {
		problems = append(problems, "PromQL: "+err.Error())
	}
	var stack []rune
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for _, c := range stripStrings(expr) {
		switch c {
		case '(', '{', '[':
			stack = append(stack, c)
		case ')', '}', ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return append(problems, fmt.Sprintf("unbalanced %q", c))
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		problems = append(problems, fmt.Sprintf("unclosed %q", stack[len(stack)-1]))
	}
	for _, id := range identifier.FindAllString(stripStrings(expr), -1) {
		if strings.Contains(id, ".") {
			problems = append(problems, fmt.Sprintf("%q: a dotted name (the exporter writes underscores)", id))
		}
	}
	if len(metricsIn(expr)) == 0 {
		problems = append(problems, "names no linkcredit metric")
	}
	return problems
}

// metricsIn lists the linkcredit metric names in expr, not the label
// names of its matchers ({http_route="…"}).
func metricsIn(expr string) []string {
	var out []string
	bare := regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(stripStrings(expr), "")
	for _, id := range identifier.FindAllString(bare, -1) {
		for _, p := range metricPrefixes {
			if strings.HasPrefix(id, p) {
				out = append(out, id)
			}
		}
	}
	return out
}

// stripStrings blanks out quoted label values, which may hold anything.
func stripStrings(expr string) string {
	return regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`).ReplaceAllString(expr, `""`)
}

func TestCheckExprCatches(t *testing.T) {
	for expr, bad := range map[string]bool{
		`max by (group) (kafkax_consumer_retry_attempts) >= 3`:              false,
		`sum(rate(conversions_requests_total{outcome!~"a.b|c"}[1h])) > 0.5`: false,
		`max(kafkax.consumer.retry.attempts) > 0`:                           true,
		`max(conversions_outbox_parked_waiting > 0`:                         true,
		`rate(conversions_requests_total[1h)`:                               true,
		`up == 0`:                                                           true,
		// What only a PromQL parser sees.
		`rate(conversions_requests_total) > 0`:                 true, // rate of an instant vector
		`max(conversions_outbox_parked_waiting) >`:             true,
		`sum by partner (conversions_requests_total)`:          true,
		`max(conversions_outbox_parked_waiting) > 0 for 5m`:    true,
		`sum(rate(conversions_requests_total[1x])) > 0`:        true,
		`max by (job, group) (kafkax_consumer_retry_attempts)`: false,
	} {
		if got := len(checkExpr(expr)) > 0; got != bad {
			t.Errorf("checkExpr(%q) = %v, want problems: %v", expr, checkExpr(expr), bad)
		}
	}
}
