//go:build !race

package manifests

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Container is a container as the kubelet would start it: command, the
// environment it would get, and the files its volumes put where.
type Container struct {
	Name    string
	Init    bool
	Image   string
	Command []string
	Args    []string
	Env     map[string]string
	// Mounts maps each mount path to the files a Secret or ConfigMap volume
	// puts there (file name -> content); other volumes have none.
	Mounts map[string]map[string]string
}

// Resolver works out containers' environments in one namespace. Secrets
// and ConfigMaps come from the built objects, then from Outside (those an
// operator or a person creates: CloudNativePG's app secret, Strimzi's
// KafkaUser secrets, the tokens). ImageEnv gives an image's own ENV.
type Resolver struct {
	Namespace string
	Objects   []Object
	Outside   map[string]map[string]string // Secret or ConfigMap name -> key -> value
	ImageEnv  func(image string) map[string]string
}

// Pod returns the containers of a pod template (init containers first),
// with podName as the pod's name.
func (r Resolver) Pod(podName string, spec corev1.PodSpec) ([]Container, error) {
	var out []Container
	for i, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		rc, err := r.container(podName, spec, c)
		if err != nil {
			return nil, fmt.Errorf("pod %s container %s: %w", podName, c.Name, err)
		}
		rc.Init = i < len(spec.InitContainers)
		out = append(out, rc)
	}
	return out, nil
}

func (r Resolver) container(podName string, spec corev1.PodSpec, c corev1.Container) (Container, error) {
	env := map[string]string{}
	if r.ImageEnv != nil {
		for k, v := range r.ImageEnv(c.Image) {
			env[k] = v
		}
	}
	env["HOSTNAME"] = podName
	env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1"
	env["KUBERNETES_SERVICE_PORT"] = "443"
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		r.serviceLinks(env)
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var err error
		var optional *bool
		switch {
		case from.ConfigMapRef != nil:
			data, err = r.data("ConfigMap", from.ConfigMapRef.Name)
			optional = from.ConfigMapRef.Optional
		case from.SecretRef != nil:
			data, err = r.data("Secret", from.SecretRef.Name)
			optional = from.SecretRef.Optional
		}
		if err != nil && (optional == nil || !*optional) {
			return Container{}, err
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, env)
			continue
		}
		v, ok, err := r.valueFrom(podName, c, e.ValueFrom)
		if err != nil {
			return Container{}, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	mounts := map[string]map[string]string{}
	for _, m := range c.VolumeMounts {
		files, err := r.volumeFiles(spec, m.Name)
		if err != nil {
			return Container{}, fmt.Errorf("volume %s: %w", m.Name, err)
		}
		if m.SubPath != "" {
			files = map[string]string{}
		}
		mounts[m.MountPath] = files
	}
	return Container{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: env, Mounts: mounts}, nil
}

// serviceLinks adds the Docker-link variables the kubelet sets for every
// Service in the namespace when enableServiceLinks is not false.
func (r Resolver) serviceLinks(env map[string]string) {
	for _, o := range OfKind(r.Objects, "Service") {
		name := strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
		spec, _ := o.Map["spec"].(map[string]any)
		ports, _ := spec["ports"].([]any)
		if len(ports) == 0 {
			continue
		}
		p, _ := ports[0].(map[string]any)
		port := fmt.Sprint(p["port"])
		env[name+"_SERVICE_HOST"] = "10.96.0.20"
		env[name+"_SERVICE_PORT"] = port
		env[name+"_PORT"] = "tcp://10.96.0.20:" + port
	}
}

func (r Resolver) valueFrom(podName string, c corev1.Container, src *corev1.EnvVarSource) (string, bool, error) {
	optional := func(b *bool) bool { return b != nil && *b }
	switch {
	case src.SecretKeyRef != nil:
		return r.key("Secret", src.SecretKeyRef.Name, src.SecretKeyRef.Key, optional(src.SecretKeyRef.Optional))
	case src.ConfigMapKeyRef != nil:
		return r.key("ConfigMap", src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, optional(src.ConfigMapKeyRef.Optional))
	case src.FieldRef != nil:
		switch src.FieldRef.FieldPath {
		case "metadata.name":
			return podName, true, nil
		case "metadata.namespace":
			return r.Namespace, true, nil
		case "status.podIP":
			return "10.244.1.23", true, nil
		case "spec.nodeName":
			return "node-1", true, nil
		}
		return "", false, fmt.Errorf("fieldRef %s not modelled", src.FieldRef.FieldPath)
	case src.ResourceFieldRef != nil:
		q, ok := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(strings.TrimPrefix(src.ResourceFieldRef.Resource, "limits."), "requests."))]
		if strings.HasPrefix(src.ResourceFieldRef.Resource, "requests.") {
			q, ok = c.Resources.Requests[corev1.ResourceName(strings.TrimPrefix(src.ResourceFieldRef.Resource, "requests."))]
		}
		if !ok {
			return "", false, fmt.Errorf("resourceFieldRef %s: no such resource on the container", src.ResourceFieldRef.Resource)
		}
		divisor := src.ResourceFieldRef.Divisor
		if divisor.IsZero() {
			return strconv.FormatInt(q.Value(), 10), true, nil
		}
		return strconv.FormatInt((q.MilliValue()+divisor.MilliValue()-1)/divisor.MilliValue(), 10), true, nil
	}
	return "", false, fmt.Errorf("empty valueFrom")
}

func (r Resolver) key(kind, name, key string, optional bool) (string, bool, error) {
	data, err := r.data(kind, name)
	if err != nil {
		if optional {
			return "", false, nil
		}
		return "", false, err
	}
	v, ok := data[key]
	if !ok && !optional {
		return "", false, fmt.Errorf("%s %s has no key %s", kind, name, key)
	}
	return v, ok, nil
}

// data is a Secret's or ConfigMap's contents: from the built objects, else
// from Outside.
func (r Resolver) data(kind, name string) (map[string]string, error) {
	if o := Find(r.Objects, kind, name); o != nil {
		out := map[string]string{}
		if d, ok := o.Map["data"].(map[string]any); ok {
			for k, v := range d {
				s := fmt.Sprint(v)
				if kind == "Secret" {
					b, err := base64.StdEncoding.DecodeString(s)
					if err != nil {
						return nil, fmt.Errorf("%s %s key %s: %w", kind, name, k, err)
					}
					s = string(b)
				}
				out[k] = s
			}
		}
		if d, ok := o.Map["stringData"].(map[string]any); ok {
			for k, v := range d {
				out[k] = fmt.Sprint(v)
			}
		}
		return out, nil
	}
	if d, ok := r.Outside[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%s %s is neither in the manifests nor a known outside one", kind, name)
}

func (r Resolver) volumeFiles(spec corev1.PodSpec, name string) (map[string]string, error) {
	for _, v := range spec.Volumes {
		if v.Name != name {
			continue
		}
		var kind, ref string
		var items []corev1.KeyToPath
		switch {
		case v.Secret != nil:
			kind, ref, items = "Secret", v.Secret.SecretName, v.Secret.Items
		case v.ConfigMap != nil:
			kind, ref, items = "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items
		default:
			return map[string]string{}, nil
		}
		data, err := r.data(kind, ref)
		if err != nil {
			return nil, err
		}
		files := map[string]string{}
		if len(items) == 0 {
			for k, v := range data {
				files[k] = v
			}
			return files, nil
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return nil, fmt.Errorf("%s %s has no key %s", kind, ref, it.Key)
			}
			files[it.Path] = v
		}
		return files, nil
	}
	// A volumeClaimTemplate of a StatefulSet, or a mistake: the caller checks.
	return map[string]string{}, nil
}

// expand replaces $(VAR) with VAR's value where VAR is already defined, and
// $$ with $, as the kubelet does.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				name := s[i+2 : i+end]
				if v, ok := env[name]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SortedKeys returns m's keys in order, for stable messages.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
