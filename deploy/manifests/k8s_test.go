//go:build !race

package manifests

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/linkcredit/linkcredit/pkg/events"
)

const root = "../.."

// overlays are the kustomizations a person applies.
var overlays = []string{"dev", "prod"}

var (
	decoderOnce sync.Once
	decoder     *Decoder
	decoderErr  error
	builds      sync.Map // overlay -> *build
)

type build struct {
	once    sync.Once
	objects []Object
	decoded []any // per object: typed built-in, or the CR's defaulted map
	err     error
}

func testDecoder(t *testing.T) *Decoder {
	t.Helper()
	decoderOnce.Do(func() { decoder, decoderErr = NewDecoder("testdata/crds") })
	if decoderErr != nil {
		t.Fatal(decoderErr)
	}
	return decoder
}

// overlay builds k8s/overlays/name once per test binary and checks every
// object; a test that needs the objects fails if any is wrong.
func overlay(t *testing.T, name string) ([]Object, []any) {
	t.Helper()
	d := testDecoder(t)
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.objects, b.err = Build(filepath.Join(root, "k8s", "overlays", name))
		if b.err != nil {
			return
		}
		var errs []error
		for _, o := range b.objects {
			obj, err := d.Check(o)
			if err != nil {
				errs = append(errs, err)
			}
			b.decoded = append(b.decoded, obj)
		}
		if len(errs) > 0 {
			b.err = fmt.Errorf("%d objects do not check: %v", len(errs), errs)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.objects, b.decoded
}

// TestOverlaysBuildAndCheck is `kustomize build` of every overlay, every
// built-in object strictly decoded (unknown fields are errors) and every
// custom resource validated against its vendored CRD (schema, unknown
// fields, CEL rules).
func TestOverlaysBuildAndCheck(t *testing.T) {
	for _, name := range overlays {
		t.Run(name, func(t *testing.T) {
			objs, decoded := overlay(t, name)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GVK.Kind]++
				if o.GVK.Kind != "Namespace" && o.Namespace != "linkcredit" {
					t.Errorf("%s: not in namespace linkcredit", o)
				}
			}
			_ = decoded
			t.Logf("%d objects: %v", len(objs), kinds)
		})
	}
}

// TestCheckerRejects proves the checks bite: an unknown field in a
// built-in kind, a CR field the CRD does not have, a broken CEL rule and a
// kind nobody serves are each refused.
func TestCheckerRejects(t *testing.T) {
	d := testDecoder(t)
	bad := map[string]string{
		"unknown field in a Deployment": `apiVersion: apps/v1
kind: Deployment
metadata: { name: x, namespace: linkcredit }
spec:
  selector: { matchLabels: { a: b } }
  template:
    metadata: { labels: { a: b } }
    spec: { containers: [{ name: x, image: x, imagePullPolicy: Always, readinessProbes: {} }] }
`,
		"unknown field in a KafkaUser": `apiVersion: kafka.strimzi.io/v1
kind: KafkaUser
metadata: { name: x, namespace: linkcredit }
spec: { authentication: { type: scram-sha-512, passwrd: x } }
`,
		"CEL rule of the Cluster CRD": `apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: { name: x, namespace: linkcredit }
spec:
  instances: 1
  imageName: x
  imageCatalogRef: { apiGroup: postgresql.cnpg.io, kind: ImageCatalog, name: x, major: 17 }
  storage: { size: 1Gi }
`,
		"CEL rule of the ObjectStore CRD": `apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata: { name: x, namespace: linkcredit }
spec: { configuration: { destinationPath: s3://x, serverName: x } }
`,
		"enum of the Kafka CRD": `apiVersion: kafka.strimzi.io/v1
kind: Kafka
metadata: { name: x, namespace: linkcredit }
spec: { kafka: { listeners: [{ name: tls, port: 9093, type: internal, tls: true, authentication: { type: scram-sha-256 } }] } }
`,
		"v1beta2, which Strimzi 1.x no longer serves": `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata: { name: x, namespace: linkcredit }
spec: { partitions: 1 }
`,
	}
	for name, y := range bad {
		o, err := parseObject([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Check(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestKafkaTopicsMatchTheCode keeps the Strimzi KafkaTopics (which own the
// topics in Kubernetes) equal to events.Topics() (which creates them
// everywhere else), in every overlay.
func TestKafkaTopicsMatchTheCode(t *testing.T) {
	for _, name := range overlays {
		objs, decoded := overlay(t, name)
		manifest := map[string]map[string]any{}
		for i, o := range objs {
			if o.GVK.Kind == "KafkaTopic" {
				manifest[o.Name] = decoded[i].(map[string]any)["spec"].(map[string]any)
			}
		}
		for _, spec := range events.Topics() {
			got, ok := manifest[spec.Name]
			if !ok {
				t.Errorf("%s: no KafkaTopic %s", name, spec.Name)
				continue
			}
			cfg, _ := got["config"].(map[string]any)
			if fmt.Sprint(got["partitions"]) != strconv.Itoa(spec.Partitions) || fmt.Sprint(cfg["retention.ms"]) != spec.Configs["retention.ms"] {
				t.Errorf("%s: %s: manifest partitions %v retention %v, code %d %s", name, spec.Name, got["partitions"], cfg["retention.ms"], spec.Partitions, spec.Configs["retention.ms"])
			}
			delete(manifest, spec.Name)
		}
		for topic := range manifest {
			t.Errorf("%s: KafkaTopic %s, which events.Topics() does not know", name, topic)
		}
	}
}

// workloads returns the typed StatefulSets and Deployments of a build by name.
func workloads(objs []Object, decoded []any) map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for i, o := range objs {
		switch w := decoded[i].(type) {
		case *appsv1.Deployment:
			out[o.Name] = w.Spec.Template
		case *appsv1.StatefulSet:
			out[o.Name] = w.Spec.Template
		}
	}
	return out
}

// TestVendoredCRDsAreUpstream: each CRD file is byte for byte the upstream
// blob its README names.
func TestVendoredCRDsAreUpstream(t *testing.T) {
	readme, err := os.ReadFile("testdata/crds/README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\S+\.yaml) \| .* \| ([0-9a-f]{40}) \|$`)
	rows := row.FindAllStringSubmatch(string(readme), -1)
	files, _ := filepath.Glob("testdata/crds/*/*.yaml")
	if len(rows) != len(files) {
		t.Errorf("README lists %d files, testdata/crds has %d", len(rows), len(files))
	}
	for _, m := range rows {
		matches, _ := filepath.Glob("testdata/crds/*/" + m[1])
		if len(matches) != 1 {
			t.Errorf("%s: %d files", m[1], len(matches))
			continue
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", len(b))
		h.Write(b)
		if got := hex.EncodeToString(h.Sum(nil)); got != m[2] {
			t.Errorf("%s: blob %s, upstream %s", matches[0], got, m[2])
		}
	}
}
