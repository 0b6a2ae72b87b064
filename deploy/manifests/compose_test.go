//go:build !race

package manifests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// noShell are the compose services whose images have no shell or HTTP
// client, so no healthcheck can run in them.
var noShell = []string{"otel-collector", "jaeger"}

// TestComposeLoads loads docker-compose.yml as docker compose would, with
// the secrets .env.example makes, and checks what the issue asks of it.
func TestComposeLoads(t *testing.T) {
	p, _ := loadComposeWithExample(t)
	for _, want := range []string{"postgres", "kafka", "redirect", "conversions", "reporting", "otel-collector", "jaeger", "prometheus", "grafana"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("compose has no service %s", want)
		}
	}
	for name, s := range p.Services {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			if !slices.Contains(noShell, name) {
				t.Errorf("%s: no healthcheck", name)
			}
		}
		for dep, d := range s.DependsOn {
			want := "service_healthy"
			if slices.Contains(noShell, dep) {
				want = "service_started"
			}
			if d.Condition != want {
				t.Errorf("%s depends on %s with condition %q, want %s", name, dep, d.Condition, want)
			}
		}
	}
	for _, s := range services {
		svc := p.Services[s]
		if svc.Build == nil || svc.Build.Dockerfile != "deploy/Dockerfile" || svc.Build.Args["VERSION"] == nil {
			t.Errorf("%s: not built by deploy/Dockerfile with a VERSION", s)
		}
		for _, dep := range []string{"kafka", "postgres"} {
			if _, ok := svc.DependsOn[dep]; !ok {
				t.Errorf("%s does not wait for %s", s, dep)
			}
		}
		if g := svc.StopGracePeriod; g == nil || time.Duration(*g) < 30*time.Second {
			t.Errorf("%s: stop_grace_period %v, want at least 30s (the HTTP drain and the click log's)", s, g)
		}
		if svc.HealthCheck == nil || !strings.Contains(strings.Join(svc.HealthCheck.Test, " "), "/usr/local/bin/probe") {
			t.Errorf("%s: its healthcheck must use the image's probe (no shell in distroless)", s)
		}
	}
	// Kafka: 4.x, like Strimzi 1.2, with its log dirs on the volume.
	kafka := p.Services["kafka"]
	if !regexp.MustCompile(`^apache/kafka:4\.`).MatchString(kafka.Image) {
		t.Errorf("kafka image %s, want apache/kafka:4.x (Strimzi 1.2 runs only Kafka 4)", kafka.Image)
	}
	logDirs := kafka.Environment["KAFKA_LOG_DIRS"]
	onVolume := false
	for _, v := range kafka.Volumes {
		onVolume = onVolume || (logDirs != nil && v.Type == "volume" && strings.HasPrefix(*logDirs, v.Target))
	}
	if !onVolume {
		t.Errorf("kafka: KAFKA_LOG_DIRS (%v) is not on a volume: recreating the container would wipe the topics", logDirs)
	}
	// redirect's DATA_DIR is a volume.
	redirect := p.Services["redirect"]
	dataDir := redirect.Environment["DATA_DIR"]
	onVolume = false
	for _, v := range redirect.Volumes {
		onVolume = onVolume || (dataDir != nil && v.Type == "volume" && v.Target == *dataDir)
	}
	if !onVolume {
		t.Error("redirect: DATA_DIR (the click log) is not a volume")
	}
}

// TestComposeNeedsEverySecret: without .env, loading fails and names each
// variable, so `docker compose up` cannot start a service without it.
func TestComposeNeedsEverySecret(t *testing.T) {
	vars, _, err := EnvExample(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, missing := range vars {
		_, env := loadComposeWithExample(t)
		delete(env, missing)
		if _, err := LoadCompose(context.Background(), filepath.Join(root, "docker-compose.yml"), env); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: %v", missing, err)
		}
	}
}

// TestStartCatchesAMissingSecret proves TestServicesGetPastConfiguration
// bites: conversions without SECRETS_KEY (compose's state before it
// had one) exits at once with a config error.
func TestStartCatchesAMissingSecret(t *testing.T) {
	bins := images(t)
	p, _ := loadComposeWithExample(t)
	env := ComposeEnv(p.Services["conversions"], nil)
	delete(env, "SECRETS_KEY")
	got, err := Start(context.Background(), filepath.Join(bins, "conversions", "out", "conversions"), nil, env, t.TempDir(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExitedAlone || !strings.Contains(got.Stderr, "config: SECRETS_KEY is required") {
		t.Fatalf("conversions without SECRETS_KEY: exited alone %v:\n%s", got.ExitedAlone, got.Stderr)
	}
}

// TestComposeTelemetry: the collector sends traces to Jaeger and metrics
// to the exporter Prometheus scrapes; Grafana's dashboard has the panels
// the issue lists, and reads metrics that the services export.
func TestComposeTelemetry(t *testing.T) {
	var col struct {
		Receivers map[string]any
		Exporters map[string]map[string]any
		Service   struct {
			Pipelines map[string]struct{ Receivers, Processors, Exporters []string }
		}
		Processors map[string]any
	}
	readYAML(t, "deploy/compose/otel-collector.yaml", &col)
	for name, p := range col.Service.Pipelines {
		for _, r := range p.Receivers {
			if _, ok := col.Receivers[r]; !ok {
				t.Errorf("collector pipeline %s: receiver %s is not defined", name, r)
			}
		}
		for _, e := range p.Exporters {
			if _, ok := col.Exporters[e]; !ok {
				t.Errorf("collector pipeline %s: exporter %s is not defined", name, e)
			}
		}
		for _, pr := range p.Processors {
			if _, ok := col.Processors[pr]; !ok {
				t.Errorf("collector pipeline %s: processor %s is not defined", name, pr)
			}
		}
	}
	if ex := col.Service.Pipelines["traces"].Exporters; len(ex) != 1 || col.Exporters[ex[0]]["endpoint"] != "jaeger:4317" {
		t.Errorf("traces go to %v, want Jaeger", ex)
	}
	metricsExporter := col.Exporters["prometheus"]
	if !slices.Contains(col.Service.Pipelines["metrics"].Exporters, "prometheus") || metricsExporter == nil {
		t.Fatal("metrics do not go to the prometheus exporter")
	}
	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "deploy/compose/prometheus.yml", &prom)
	_, port, _ := strings.Cut(metricsExporter["endpoint"].(string), ":")
	scraped := false
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			scraped = scraped || slices.Contains(st.Targets, "otel-collector:"+port)
		}
	}
	if !scraped {
		t.Errorf("Prometheus does not scrape the collector's exporter on :%s", port)
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct {
				Expr   string
				RawSQL string `json:"rawSql"`
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy/compose/grafana/dashboards/linkcredit.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile(filepath.Join(root, "docs/operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	metric := regexp.MustCompile(`\b(redirect|conversions|reporting|kafkax)_[a-z_]+`)
	for _, p := range dash.Panels {
		titles[p.Title] = true
		for _, tg := range p.Targets {
			if tg.Expr == "" && tg.RawSQL == "" {
				t.Errorf("panel %q: empty query", p.Title)
			}
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_total")
				if !strings.Contains(string(ops), base) {
					t.Errorf("panel %q reads %s, which docs/operations.md does not list", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"Redirects/s by outcome", "Webhook outcomes by partner", "Click-log backlog", "Outbox depth",
		"Consumer lag", "Ingest delay", "Commission booked per hour"} {
		if !titles[want] {
			t.Errorf("dashboard has no panel %q", want)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestComposeNetworks: no linkcredit service shares a network with
// another (none calls another; a flaw in one must not reach the others'
// APIs, all of which accept the same admin token), and every container
// shares one with each it talks to.
func TestComposeNetworks(t *testing.T) {
	p, _ := loadComposeWithExample(t)
	shares := func(a, b string) bool {
		for n := range p.Services[a].Networks {
			if _, ok := p.Services[b].Networks[n]; ok {
				return true
			}
		}
		return false
	}
	for i, a := range services {
		for _, b := range services[i+1:] {
			if shares(a, b) {
				t.Errorf("%s and %s share a network", a, b)
			}
		}
	}
	talksTo := map[string][]string{
		"redirect":       {"postgres", "kafka", "otel-collector"},
		"conversions":    {"postgres", "kafka", "otel-collector"},
		"reporting":      {"postgres", "kafka", "otel-collector"},
		"otel-collector": {"jaeger"},
		"prometheus":     {"otel-collector"},
		"grafana":        {"postgres", "prometheus", "jaeger"},
	}
	for a, bs := range talksTo {
		for _, b := range bs {
			if !shares(a, b) {
				t.Errorf("%s cannot reach %s: no network in common", a, b)
			}
		}
	}
	for name, s := range p.Services {
		if len(s.Networks) == 0 {
			t.Errorf("%s is on the default network, which every other container without networks joins", name)
		}
	}
}
