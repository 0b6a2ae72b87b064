//go:build !race

package manifests

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var services = []string{"redirect", "conversions", "reporting"}

// get walks a custom resource's map.
func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func typed[T any](decoded []any) []T {
	var out []T
	for _, d := range decoded {
		if v, ok := d.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func crs(objs []Object, decoded []any, kind string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for i, o := range objs {
		if o.GVK.Kind == kind {
			out[o.Name] = decoded[i].(map[string]any)
		}
	}
	return out
}

func container(tmpl corev1.PodTemplateSpec, name string) *corev1.Container {
	for i := range tmpl.Spec.Containers {
		if tmpl.Spec.Containers[i].Name == name {
			return &tmpl.Spec.Containers[i]
		}
	}
	return nil
}

func envValue(c *corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// TestProdIngressIsPublicRoutesOnly: clicks, webhooks, postbacks and the
// dashboard, nothing else; redirect believes X-Forwarded-For from it.
func TestProdIngressIsPublicRoutesOnly(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	want := map[string]string{ // path -> service
		"/c/": "redirect", "/v1/webhooks/": "conversions", "/v1/postback/": "conversions",
		"/": "reporting", "/login": "reporting", "/logout": "reporting", "/assets/": "reporting",
		"/partners/health": "reporting", "/favicon.svg": "reporting", "/favicon.ico": "reporting",
	}
	got := map[string]string{}
	for _, ing := range typed[*networkingv1.Ingress](decoded) {
		if ing.Spec.DefaultBackend != nil {
			t.Errorf("Ingress %s has a default backend: every route must be named", ing.Name)
		}
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				got[p.Path] = p.Backend.Service.Name
				if p.Path == "/" && (p.PathType == nil || *p.PathType != networkingv1.PathTypeExact) {
					t.Errorf("Ingress path / must be Exact, or every API is public")
				}
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Ingress routes = %v, want exactly %v", got, want)
	}
	// A postback's token is in its query: no Ingress that routes it may
	// write it to the controller's access log.
	for _, ing := range typed[*networkingv1.Ingress](decoded) {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if p.Path == "/v1/postback/" && ing.Annotations["nginx.ingress.kubernetes.io/enable-access-log"] != "false" {
					t.Errorf("Ingress %s routes postbacks with the access log on: their tokens would be logged", ing.Name)
				}
			}
		}
	}
	redirect := container(workloads(objs, decoded)["redirect"], "redirect")
	e, ok := envValue(redirect, "TRUSTED_PROXIES")
	if !ok || e.Value == "" {
		t.Fatal("redirect has no TRUSTED_PROXIES: behind the Ingress every visitor would be the controller's address")
	}
	for _, cidr := range strings.Split(e.Value, ",") {
		if _, err := netip.ParsePrefix(strings.TrimSpace(cidr)); err != nil {
			t.Errorf("TRUSTED_PROXIES %q: %v", cidr, err)
		}
	}
}

// TestProdNetworkPolicies: every pod is under a default deny for ingress,
// the services also for egress, and each path they need is allowed.
func TestProdNetworkPolicies(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	pols := typed[*networkingv1.NetworkPolicy](decoded)
	denyIngress, denyEgress := false, map[string]bool{}
	selects := func(p *networkingv1.NetworkPolicy, podLabels map[string]string) bool {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		return err == nil && sel.Matches(labels.Set(podLabels))
	}
	for _, p := range pols {
		if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(p.Spec.Ingress) == 0 {
			denyIngress = true
		}
		if slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) && len(p.Spec.Egress) == 0 {
			for _, s := range services {
				if selects(p, map[string]string{"app.kubernetes.io/name": s}) {
					denyEgress[s] = true
				}
			}
		}
	}
	if !denyIngress {
		t.Error("no default-deny ingress policy for every pod")
	}
	ports := map[string]int32{"redirect": 8080, "conversions": 8081, "reporting": 8082}
	for name, tmpl := range workloads(objs, decoded) {
		if !slices.Contains(services, name) {
			continue
		}
		if !denyEgress[name] {
			t.Errorf("%s: not under a default-deny egress policy", name)
		}
		allowed := func(dir string, port int32) bool {
			for _, p := range pols {
				if !selects(p, tmpl.Labels) {
					continue
				}
				var rules [][]networkingv1.NetworkPolicyPort
				if dir == "in" {
					for _, r := range p.Spec.Ingress {
						rules = append(rules, r.Ports)
					}
				} else {
					for _, r := range p.Spec.Egress {
						rules = append(rules, r.Ports)
					}
				}
				for _, rp := range rules {
					for _, pp := range rp {
						if pp.Port != nil && pp.Port.IntVal == port {
							return true
						}
					}
				}
			}
			return false
		}
		for _, need := range []struct {
			dir  string
			port int32
			what string
		}{{"in", ports[name], "from the Ingress"}, {"in", 9090, "metrics from Prometheus"},
			{"out", 53, "DNS"}, {"out", 5432, "PostgreSQL"}, {"out", 9093, "Kafka"}, {"out", 4318, "the collector"}} {
			if !allowed(need.dir, need.port) {
				t.Errorf("%s: nothing allows %s (port %d)", name, need.what, need.port)
			}
		}
	}
}

// TestProdScalesAndRollsOutSafely: HPAs for redirect and conversions, a PDB
// per service, a preStop delay, migrations in an init container, and
// readiness that a Kafka blip does not fail where the service can accept.
func TestProdScalesAndRollsOutSafely(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	hpas := map[string]string{}
	for _, h := range typed[*autoscalingv2.HorizontalPodAutoscaler](decoded) {
		hpas[h.Spec.ScaleTargetRef.Name] = h.Spec.ScaleTargetRef.Kind
		// A redirect pod removed while Kafka is down leaves its unshipped
		// clicks on a claim nothing reads: the HPA must never remove one.
		if h.Spec.ScaleTargetRef.Name == "redirect" {
			b := h.Spec.Behavior
			if b == nil || b.ScaleDown == nil || b.ScaleDown.SelectPolicy == nil || *b.ScaleDown.SelectPolicy != autoscalingv2.DisabledPolicySelect {
				t.Errorf("redirect's HPA scales down: a pod it removes while Kafka is down strands its click log")
			}
		}
	}
	if hpas["redirect"] != "StatefulSet" || hpas["conversions"] != "Deployment" {
		t.Errorf("HPAs = %v, want redirect (StatefulSet) and conversions (Deployment)", hpas)
	}
	pdbs := typed[*policyv1.PodDisruptionBudget](decoded)
	for name, tmpl := range workloads(objs, decoded) {
		covered := false
		for _, p := range pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && sel.Matches(labels.Set(tmpl.Labels)) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("%s: no PodDisruptionBudget", name)
		}
		if !slices.Contains(services, name) {
			continue
		}
		c := container(tmpl, name)
		if c == nil {
			t.Fatalf("%s: no container %s", name, name)
		}
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 5 {
			t.Errorf("%s: no preStop sleep of 5 s or more", name)
		}
		if grace := tmpl.Spec.TerminationGracePeriodSeconds; grace == nil || *grace < 40 {
			t.Errorf("%s: terminationGracePeriodSeconds %v: preStop plus the 20 s drain need 40", name, grace)
		}
		// redirect and conversions serve without Kafka and PostgreSQL's
		// readiness (clicks from memory into the click log, webhooks into
		// the outbox or a 503): ready once started, never before
		// (/healthz answers 200 while a service starts).
		if want := "/readyz?exclude=kafka&exclude=postgres"; name != "reporting" && c.ReadinessProbe.HTTPGet.Path != want {
			t.Errorf("%s: readiness on %q, want %s: /readyz fails on a Kafka blip, though it can still accept, and /healthz is 200 while it starts", name, c.ReadinessProbe.HTTPGet.Path, want)
		}
		if len(tmpl.Spec.InitContainers) != 1 || !slices.Equal(tmpl.Spec.InitContainers[0].Args, []string{"migrate"}) ||
			tmpl.Spec.InitContainers[0].Image != c.Image {
			t.Errorf("%s: want one init container running `%s migrate` from the same image", name, name)
		}
		if tmpl.Spec.EnableServiceLinks == nil || *tmpl.Spec.EnableServiceLinks {
			t.Errorf("%s: enableServiceLinks must be false (a Service's *_PORT variables must not reach the config)", name)
		}
	}
}

// TestProdKafkaIsAuthenticated: a TLS listener with SCRAM, simple
// authorization, and one KafkaUser per service with ACLs for exactly its
// topics and groups, which the service logs in as.
func TestProdKafkaIsAuthenticated(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	kafka := crs(objs, decoded, "Kafka")["linkcredit"]
	for _, l := range get(kafka, "spec", "kafka", "listeners").([]any) {
		if get(l, "tls") != true || get(l, "authentication", "type") == nil {
			t.Errorf("listener %v: needs tls and authentication", get(l, "name"))
		}
	}
	if get(kafka, "spec", "kafka", "authorization", "type") != "simple" {
		t.Error("Kafka has no authorization: ACLs would not be enforced")
	}
	want := map[string][]string{
		"linkcredit-redirect":    {"topic clicks.v1 Describe,Write", "topic clicks.v1.dlq Describe,Write"},
		"linkcredit-conversions": {"topic conversions.v1 Describe,Write"},
		"linkcredit-reporting": {"group reporting.ledger Read", "topic clicks.v1 Describe,Read", "topic clicks.v1.dlq Describe,Write",
			"topic conversions.v1 Describe,Read", "topic conversions.v1.dlq Describe,Write"},
	}
	users := crs(objs, decoded, "KafkaUser")
	got := map[string][]string{}
	for name, u := range users {
		if get(u, "spec", "authentication", "type") != "scram-sha-512" {
			t.Errorf("KafkaUser %s: authentication %v", name, get(u, "spec", "authentication", "type"))
		}
		for _, a := range get(u, "spec", "authorization", "acls").([]any) {
			var ops []string
			for _, op := range get(a, "operations").([]any) {
				ops = append(ops, op.(string))
			}
			sort.Strings(ops)
			if get(a, "resource", "patternType") != "literal" {
				t.Errorf("KafkaUser %s: %v is not a literal resource", name, get(a, "resource"))
			}
			got[name] = append(got[name], fmt.Sprintf("%s %s %s", get(a, "resource", "type"), get(a, "resource", "name"), strings.Join(ops, ",")))
		}
		sort.Strings(got[name])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KafkaUser ACLs = %v\nwant %v", got, want)
	}
	for name, tmpl := range workloads(objs, decoded) {
		if !slices.Contains(services, name) {
			continue
		}
		c := container(tmpl, name)
		user, _ := envValue(c, "KAFKA_SASL_USERNAME")
		pass, _ := envValue(c, "KAFKA_SASL_PASSWORD")
		if user.Value != "linkcredit-"+name || pass.ValueFrom == nil || pass.ValueFrom.SecretKeyRef == nil ||
			pass.ValueFrom.SecretKeyRef.Name != user.Value || pass.ValueFrom.SecretKeyRef.Key != "password" {
			t.Errorf("%s: must log in as KafkaUser linkcredit-%s with its Strimzi secret", name, name)
		}
	}
}

// TestProdPlatformIsSizedAndBackedUp: resources and anti-affinity for the
// Kafka nodes and PostgreSQL, synchronous replication, and backups through
// the barman-cloud plugin.
func TestProdPlatformIsSizedAndBackedUp(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	for name, pool := range crs(objs, decoded, "KafkaNodePool") {
		if get(pool, "spec", "resources", "requests") == nil || get(pool, "spec", "resources", "limits") == nil {
			t.Errorf("KafkaNodePool %s: no resources", name)
		}
		if get(pool, "spec", "template", "pod", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution") == nil {
			t.Errorf("KafkaNodePool %s: brokers may share a node", name)
		}
	}
	pg := crs(objs, decoded, "Cluster")["linkcredit-pg"]
	if get(pg, "spec", "resources", "requests") == nil || fmt.Sprint(get(pg, "spec", "instances")) != "3" {
		t.Error("Cluster linkcredit-pg: want 3 instances with resources")
	}
	if get(pg, "spec", "postgresql", "synchronous", "number") == nil || get(pg, "spec", "postgresql", "synchronous", "dataDurability") != "required" {
		t.Error("Cluster linkcredit-pg: replication is not synchronous with dataDurability required")
	}
	stores := crs(objs, decoded, "ObjectStore")
	var archiver string
	for _, p := range get(pg, "spec", "plugins").([]any) {
		if get(p, "name") == "barman-cloud.cloudnative-pg.io" && get(p, "isWALArchiver") == true {
			archiver, _ = get(p, "parameters", "barmanObjectName").(string)
		}
	}
	if _, ok := stores[archiver]; !ok {
		t.Errorf("Cluster linkcredit-pg: no barman-cloud plugin archiving WAL to an ObjectStore in the manifests (%q)", archiver)
	}
	backups := crs(objs, decoded, "ScheduledBackup")
	if len(backups) == 0 {
		t.Error("no ScheduledBackup")
	}
	for name, b := range backups {
		if get(b, "spec", "method") != "plugin" || get(b, "spec", "pluginConfiguration", "name") != "barman-cloud.cloudnative-pg.io" ||
			get(b, "spec", "cluster", "name") != "linkcredit-pg" {
			t.Errorf("ScheduledBackup %s: want method plugin, barman-cloud, cluster linkcredit-pg", name)
		}
	}
}

// TestProdServiceMonitors: one per service, selecting its Service, on a
// port the Service has.
func TestProdServiceMonitors(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	svcs := typed[*corev1.Service](decoded)
	monitors := crs(objs, decoded, "ServiceMonitor")
	for _, name := range services {
		m, ok := monitors[name]
		if !ok {
			t.Errorf("no ServiceMonitor for %s", name)
			continue
		}
		port := get(m, "spec", "endpoints").([]any)[0].(map[string]any)["port"]
		sel := labels.SelectorFromSet(labels.Set(map[string]string{}))
		if ml, ok := get(m, "spec", "selector", "matchLabels").(map[string]any); ok {
			set := labels.Set{}
			for k, v := range ml {
				set[k] = fmt.Sprint(v)
			}
			sel = labels.SelectorFromSet(set)
		}
		found := false
		for _, s := range svcs {
			if s.Name == name && sel.Matches(labels.Set(s.Labels)) {
				for _, p := range s.Spec.Ports {
					found = found || p.Name == port
				}
			}
		}
		if !found {
			t.Errorf("ServiceMonitor %s: selects no Service %s with port %v", name, name, port)
		}
	}
}

// TestProdPostgresRolesPerService: each service (its container and its
// migrate init container) signs in to PostgreSQL as its own role with the
// password of its own Secret (in PGPASSWORD, not in the URL), never as the
// database's owner; the Cluster
// lets those roles sign in (managed.roles) and makes them, with their
// schemas, from the ConfigMap of k8s/components/platform/service-roles.sql,
// which is pkg/database/serviceroles.sql byte for byte.
func TestProdPostgresRolesPerService(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	pg := crs(objs, decoded, "Cluster")["linkcredit-pg"]
	managed := map[string]string{}
	for _, r := range get(pg, "spec", "managed", "roles").([]any) {
		secret, _ := get(r, "passwordSecret", "name").(string)
		managed[get(r, "name").(string)] = secret
		if get(r, "login") != true || get(r, "superuser") == true || get(r, "createrole") == true || get(r, "createdb") == true {
			t.Errorf("managed role %v: want login, not superuser, no createrole or createdb", get(r, "name"))
		}
	}
	for name, tmpl := range workloads(objs, decoded) {
		if !slices.Contains(services, name) {
			continue
		}
		role, secret := "linkcredit_"+name, "linkcredit-pg-"+name
		if managed[role] != secret {
			t.Errorf("Cluster linkcredit-pg: role %s is not managed with the password of Secret %s (%q)", role, secret, managed[role])
		}
		for _, c := range append(slices.Clone(tmpl.Spec.InitContainers), tmpl.Spec.Containers...) {
			dbURL, ok := envValue(&c, "DATABASE_URL")
			if !ok {
				continue
			}
			pw, _ := envValue(&c, "PGPASSWORD") // the driver's, so no character of it can break the URL
			if !strings.HasPrefix(dbURL.Value, "postgresql://"+role+"@") || pw.ValueFrom == nil ||
				pw.ValueFrom.SecretKeyRef == nil || pw.ValueFrom.SecretKeyRef.Name != secret || pw.ValueFrom.SecretKeyRef.Key != "password" {
				t.Errorf("%s/%s: must sign in as %s with Secret %s's password", name, c.Name, role, secret)
			}
		}
	}
	var refs []string
	for _, r := range get(pg, "spec", "bootstrap", "initdb", "postInitApplicationSQLRefs", "configMapRefs").([]any) {
		refs = append(refs, fmt.Sprintf("%v/%v", get(r, "name"), get(r, "key")))
	}
	if !slices.Equal(refs, []string{"linkcredit-pg-service-roles/service-roles.sql"}) {
		t.Fatalf("Cluster linkcredit-pg: postInitApplicationSQLRefs = %v", refs)
	}
	cm := Find(objs, "ConfigMap", "linkcredit-pg-service-roles")
	if cm == nil {
		t.Fatal("no ConfigMap linkcredit-pg-service-roles")
	}
	want, err := os.ReadFile(filepath.Join(root, "pkg/database/serviceroles.sql"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(root, "k8s/components/platform/service-roles.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if string(copied) != string(want) {
		t.Error("k8s/components/platform/service-roles.sql differs from pkg/database/serviceroles.sql: copy it again")
	}
	if get(cm.Map, "data", "service-roles.sql") != string(want) {
		t.Error("ConfigMap linkcredit-pg-service-roles does not hold pkg/database/serviceroles.sql")
	}
}

// TestProdClickIDKeysOnlyInRedirect: the keys that sign click ids reach
// only the service that signs them.
func TestProdClickIDKeysOnlyInRedirect(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	for name, tmpl := range workloads(objs, decoded) {
		for _, c := range append(slices.Clone(tmpl.Spec.InitContainers), tmpl.Spec.Containers...) {
			if _, ok := envValue(&c, "CLICK_ID_KEYS"); ok && (name != "redirect" || c.Name != "redirect") {
				t.Errorf("%s/%s gets CLICK_ID_KEYS", name, c.Name)
			}
		}
	}
}
