//go:build !race

package manifests

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAlertRulesWired: every rule file of the telemetry component is one
// of its resources, so the prod overlay deploys each as a PrometheusRule
// (checked against the vendored CRD with every other object); the dev
// overlay, for clusters without the Prometheus operator, drops them.
func TestAlertRulesWired(t *testing.T) {
	dir := filepath.Join(root, "k8s", "components", "telemetry")
	files, err := filepath.Glob(filepath.Join(dir, "*.rules.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in %s: %v", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range files {
		if !slices.Contains(k.Resources, filepath.Base(f)) {
			t.Errorf("%s is not in the telemetry component's resources %v", filepath.Base(f), k.Resources)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want[rf.Metadata.Name] = true
	}
	for name, wantRules := range map[string]bool{"prod": true, "dev": false} {
		objs, _ := overlay(t, name)
		got := map[string]bool{}
		for _, o := range objs {
			if o.GVK.Kind == "PrometheusRule" {
				got[o.Name] = true
			}
		}
		for rule := range want {
			if got[rule] != wantRules {
				t.Errorf("overlay %s: PrometheusRule %s deployed %v, want %v", name, rule, got[rule], wantRules)
			}
		}
		if wantRules && len(got) != len(want) {
			t.Errorf("overlay %s: PrometheusRules %v, want those of the rule files %v", name, got, want)
		}
	}
}
