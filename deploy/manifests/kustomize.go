//go:build !race

package manifests

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one resource of a kustomize build.
type Object struct {
	GVK       schema.GroupVersionKind
	Name      string
	Namespace string
	YAML      []byte
	// Map is the object as the API server would see it: JSON numbers as
	// int64 or float64.
	Map map[string]any
}

func (o Object) String() string { return fmt.Sprintf("%s %s/%s", o.GVK.Kind, o.Namespace, o.Name) }

// Build renders the kustomization in dir, as `kubectl apply -k dir` (or
// `kustomize build dir`) would.
func Build(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []Object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		o, err := parseObject(y)
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, o)
	}
	return out, nil
}

func parseObject(y []byte) (Object, error) {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return Object{}, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil { // numbers as int64/float64
		return Object{}, err
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	return Object{GVK: schema.FromAPIVersionAndKind(apiVersion, kind), Name: name, Namespace: ns, YAML: y, Map: m}, nil
}

// Find returns the object of that kind and name, or nil.
func Find(objs []Object, kind, name string) *Object {
	for i := range objs {
		if objs[i].GVK.Kind == kind && objs[i].Name == name {
			return &objs[i]
		}
	}
	return nil
}

// OfKind returns the objects of a kind.
func OfKind(objs []Object, kind string) []Object {
	var out []Object
	for _, o := range objs {
		if o.GVK.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}
