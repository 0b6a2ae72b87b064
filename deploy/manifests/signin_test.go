//go:build !race

package manifests

import (
	"net/netip"
	"strings"
	"testing"
)

// TestProdReportingTrustsTheIngress: behind the Ingress, reporting's
// sign-in throttle must key on the client's address, not the
// controller's, so TRUSTED_PROXIES names the pod network as for redirect.
func TestProdReportingTrustsTheIngress(t *testing.T) {
	objs, decoded := overlay(t, "prod")
	ws := workloads(objs, decoded)
	reporting := container(ws["reporting"], "reporting")
	e, ok := envValue(reporting, "TRUSTED_PROXIES")
	if !ok || e.Value == "" {
		t.Fatal("reporting has no TRUSTED_PROXIES: every sign-in would count against the Ingress controller's address")
	}
	redirect, _ := envValue(container(ws["redirect"], "redirect"), "TRUSTED_PROXIES")
	if e.Value != redirect.Value {
		t.Errorf("reporting trusts %q, redirect %q: the same Ingress stands before both", e.Value, redirect.Value)
	}
	for _, cidr := range strings.Split(e.Value, ",") {
		if _, err := netip.ParsePrefix(strings.TrimSpace(cidr)); err != nil {
			t.Errorf("TRUSTED_PROXIES %q: %v", cidr, err)
		}
	}
}
