//go:build !race

package manifests

import (
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// Review guard (passes today; nothing else checks it in Kubernetes): the
// redirect's click log directory (CLICKLOG_DIR, else DATA_DIR/clicklog)
// must be on the StatefulSet's per-pod claim in every overlay. Under
// readOnlyRootFilesystem anything else is unwritable, which
// TestServicesGetPastConfiguration cannot see (it stops the process before
// the click log opens, and its files are all writable); and an emptyDir
// would lose answered clicks with the pod.
func TestRedirectClickLogOnItsClaim(t *testing.T) {
	for _, name := range overlays {
		_, decoded := overlay(t, name)
		var sts *appsv1.StatefulSet
		for _, s := range typed[*appsv1.StatefulSet](decoded) {
			if s.Name == "redirect" {
				sts = s
			}
		}
		if sts == nil {
			t.Fatalf("%s: redirect is not a StatefulSet", name)
		}
		claims := map[string]bool{}
		for _, c := range sts.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
		}
		c := container(sts.Spec.Template, "redirect")
		dir := ""
		if e, ok := envValue(c, "CLICKLOG_DIR"); ok {
			dir = e.Value
		} else if e, ok := envValue(c, "DATA_DIR"); ok {
			dir = filepath.Join(e.Value, "clicklog")
		} else {
			t.Fatalf("%s: redirect sets neither CLICKLOG_DIR nor DATA_DIR", name)
		}
		on := ""
		for _, m := range c.VolumeMounts {
			if (dir == m.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/")) && len(m.MountPath) > len(on) {
				on = m.MountPath
				if !claims[m.Name] || m.ReadOnly {
					t.Errorf("%s: the click log %s is on volume %s, not a writable per-pod claim", name, dir, m.Name)
				}
			}
		}
		if on == "" {
			t.Errorf("%s: the click log %s is on no volume (root filesystem, read-only)", name, dir)
		}
	}
}
