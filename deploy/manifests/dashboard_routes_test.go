//go:build !race

package manifests

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// TestProdIngressRoutesEveryDashboardPage: the partner health page was
// linked from the dashboard and not routed by the prod Ingress (a review
// found it; TestProdIngressIsPublicRoutesOnly listed the same routes).
// Every same-origin path a dashboard template links to or posts to must be
// routed to reporting by the Ingress that serves the dashboard's host.
func TestProdIngressRoutesEveryDashboardPage(t *testing.T) {
	_, decoded := overlay(t, "prod")
	type route struct {
		path     string
		exact    bool
		hostname string
		service  string
	}
	var routes []route
	dashboardHost := ""
	for _, ing := range typed[*networkingv1.Ingress](decoded) {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				routes = append(routes, route{p.Path, exact, r.Host, p.Backend.Service.Name})
				if p.Path == "/" && p.Backend.Service.Name == "reporting" {
					dashboardHost = r.Host
				}
			}
		}
	}
	if dashboardHost == "" {
		t.Fatal("no Ingress routes / to reporting")
	}
	// Prefix matching as Kubernetes defines it: element-wise on '/'.
	routed := func(path string) string {
		best, svc := -1, ""
		for _, r := range routes {
			if r.hostname != dashboardHost {
				continue
			}
			ok := false
			if r.exact {
				ok = path == r.path
			} else {
				prefix := strings.TrimSuffix(r.path, "/")
				ok = path == prefix || strings.HasPrefix(path, prefix+"/") || prefix == ""
			}
			if ok && len(r.path) > best {
				best, svc = len(r.path), r.service
			}
		}
		return svc
	}

	dir := filepath.Join(root, "services", "reporting", "internal", "dashboard", "templates")
	files, err := filepath.Glob(filepath.Join(dir, "*.html"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboard templates under %s: %v", dir, err)
	}
	link := regexp.MustCompile(`(?:href|action)="(/[^"#?{]*)`)
	paths := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			paths[m[1]] = append(paths[m[1]], filepath.Base(f))
		}
	}
	var missing []string
	for p, from := range paths {
		if routed(p) != "reporting" {
			missing = append(missing, p+" (linked from "+strings.Join(from, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard links to paths the prod Ingress does not route to reporting on %s:\n  %s",
			dashboardHost, strings.Join(missing, "\n  "))
	}
}
