package podenv

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Sources are the objects of the pod's namespace that env and volumes may
// refer to, by name, and the node's allocatable resources.
type Sources struct {
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
	// Allocatable is the node's allocatable resources: a downwardAPI
	// volume item's resourceFieldRef to a limit the container does not
	// set resolves to it, as in the kubelet (env vars take it from
	// Runtime.Allocatable).
	Allocatable corev1.ResourceList
}

// Runtime are the facts about the running pod and its node that fieldRef
// and resourceFieldRef may refer to.
type Runtime struct {
	PodIP  string
	HostIP string
	// Allocatable is the node's allocatable resources: a resourceFieldRef
	// to a limit the container does not set resolves to it, as in the
	// kubelet.
	Allocatable corev1.ResourceList
}

// Var is one resolved environment variable.
type Var struct {
	Name  string
	Value string
}

// Env returns the environment of container c of pod, in definition order.
func Env(pod *corev1.Pod, c *corev1.Container, src Sources, rt Runtime) ([]Var, error) {
	var out []Var
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, Var{name, value})
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}

	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm := src.ConfigMaps[ef.ConfigMapRef.Name]
			if cm == nil {
				if optional(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("container %q: envFrom: configmap %q not found", c.Name, ef.ConfigMapRef.Name)
			}
			for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
				set(ef.Prefix+k, cm.Data[k])
			}
		case ef.SecretRef != nil:
			s := src.Secrets[ef.SecretRef.Name]
			if s == nil {
				if optional(ef.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("container %q: envFrom: secret %q not found", c.Name, ef.SecretRef.Name)
			}
			for _, k := range secretKeys(s) {
				v, _ := SecretValue(s, k)
				set(ef.Prefix+k, string(v))
			}
		default:
			return nil, fmt.Errorf("container %q: envFrom entry names neither a configMapRef nor a secretRef", c.Name)
		}
	}

	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, Expand(e.Value, lookup))
			continue
		}
		v, ok, err := valueFrom(pod, c, e, src, rt)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	return out, nil
}

// Lookup returns a lookup function over env for Expand.
func Lookup(env []Var) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, v := range env {
		m[v.Name] = v.Value
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// ExpandAll expands every string of in with lookup.
func ExpandAll(in []string, lookup func(string) (string, bool)) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = Expand(s, lookup)
	}
	return out
}

// Strings renders env as NAME=value entries.
func Strings(env []Var) []string {
	out := make([]string, len(env))
	for i, v := range env {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}

func optional(p *bool) bool { return p != nil && *p }

// SecretValue returns key of s from data, or from stringData when a
// manifest wrote it there.
func SecretValue(s *corev1.Secret, key string) ([]byte, bool) {
	if v, ok := s.Data[key]; ok {
		return v, true
	}
	if v, ok := s.StringData[key]; ok {
		return []byte(v), true
	}
	return nil, false
}

func secretKeys(s *corev1.Secret) []string {
	keys := slices.Collect(maps.Keys(s.Data))
	for k := range s.StringData {
		if _, ok := s.Data[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// valueFrom resolves one env entry's valueFrom. ok is false when an optional
// source is missing and the variable is left out.
func valueFrom(pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, src Sources, rt Runtime) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm := src.ConfigMaps[ref.Name]
		if cm == nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: configmap %q not found", c.Name, e.Name, ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: key %q not found in configmap %q", c.Name, e.Name, ref.Key, ref.Name)
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		s := src.Secrets[ref.Name]
		if s == nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: secret %q not found", c.Name, e.Name, ref.Name)
		}
		v, ok := SecretValue(s, ref.Key)
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: key %q not found in secret %q", c.Name, e.Name, ref.Key, ref.Name)
		}
		return string(v), true, nil
	case vf.FieldRef != nil:
		v, err := FieldValue(pod, vf.FieldRef.FieldPath, rt)
		if err != nil {
			return "", false, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
		}
		return v, true, nil
	case vf.ResourceFieldRef != nil:
		v, err := ResourceValue(pod, c, vf.ResourceFieldRef, rt.Allocatable)
		if err != nil {
			return "", false, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
		}
		return v, true, nil
	default:
		return "", false, fmt.Errorf("container %q: env %s: empty valueFrom", c.Name, e.Name)
	}
}

// FieldValue resolves a downward-API field path of pod.
func FieldValue(pod *corev1.Pod, path string, rt Runtime) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return rt.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return rt.HostIP, nil
	}
	for _, m := range []struct {
		prefix string
		values map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if rest, ok := strings.CutPrefix(path, m.prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m.values[key], nil
			}
		}
	}
	return "", fmt.Errorf("fieldRef %q is not supported by tug", path)
}
