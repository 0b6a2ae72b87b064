//go:build !race

package manifests

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Decoder checks objects: built-in kinds by strict decoding into the
// Kubernetes Go types, custom resources against their CRDs.
type Decoder struct {
	strict runtime.Decoder
	scheme *runtime.Scheme
	crds   map[schema.GroupVersionKind]*crdVersion
}

type crdVersion struct {
	namespaced bool
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
	cel        *cel.Validator
}

// NewDecoder loads every CustomResourceDefinition in the YAML files under
// crdDir.
func NewDecoder(crdDir string) (*Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	d := &Decoder{
		scheme: scheme,
		strict: kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true}),
		crds:   map[schema.GroupVersionKind]*crdVersion{},
	}
	err := filepath.WalkDir(crdDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := d.addCRD(b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(d.crds) == 0 {
		return nil, fmt.Errorf("no CRDs under %s", crdDir)
	}
	return d, nil
}

func (d *Decoder) addCRD(b []byte) error {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		return err
	}
	if crd.Kind != "CustomResourceDefinition" {
		return fmt.Errorf("not a CustomResourceDefinition: %s", crd.Kind)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return err
		}
		s, err := structuralschema.NewStructural(internal)
		if err != nil {
			return fmt.Errorf("%s %s: not a structural schema: %w", crd.Name, v.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(internal)
		if err != nil {
			return err
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		d.crds[gvk] = &crdVersion{
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: s,
			validator:  validator,
			cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
		}
	}
	return nil
}

// Check decodes o. A built-in kind comes back as its typed Go object; a
// custom resource as its map, defaulted as the API server would store it.
// Kinds the Decoder knows neither way are an error.
func (d *Decoder) Check(o Object) (any, error) {
	if d.scheme.Recognizes(o.GVK) {
		obj, _, err := d.strict.Decode(o.YAML, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o, err)
		}
		return obj, nil
	}
	crd, ok := d.crds[o.GVK]
	if !ok {
		return nil, fmt.Errorf("%s: %s is neither a built-in kind nor served by a vendored CRD", o, o.GVK)
	}
	var errs field.ErrorList
	if o.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	}
	if crd.namespaced != (o.Namespace != "") {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), o.Namespace, "wrong for the CRD's scope"))
	}
	obj := runtime.DeepCopyJSON(o.Map)
	// Unknown fields: the API server would drop them silently (pruning); here
	// they are errors, like kubectl's strict field validation.
	for _, p := range pruning.PruneWithOptions(obj, crd.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		errs = append(errs, field.Forbidden(field.NewPath(p), "unknown field"))
	}
	structuraldefaulting.Default(obj, crd.structural)
	errs = append(errs, validation.ValidateCustomResource(nil, obj, crd.validator)...)
	celErrs, _ := crd.cel.Validate(context.Background(), nil, crd.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	errs = append(errs, celErrs...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", o, errors.Join(errsOf(errs)...))
	}
	return obj, nil
}

func errsOf(l field.ErrorList) []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}
