package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// TemplateHash returns the pod-template-hash of a template, in the form
// Kubernetes uses for ReplicaSet names (FNV-32a, safe-encoded).
func TemplateHash(tmpl *corev1.PodTemplateSpec) string {
	h := fnv.New32a()
	data, _ := json.Marshal(tmpl) // a PodTemplateSpec always marshals
	h.Write(data)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// ConfigRefs lists the ConfigMaps and Secrets a pod spec references, through
// env, envFrom, and configMap, secret and projected volumes.
func ConfigRefs(spec *corev1.PodSpec) (configMaps, secrets []string) {
	cms, secs := map[string]bool{}, map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				cms[r.Name] = true
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				secs[r.Name] = true
			}
		}
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				cms[e.ConfigMapRef.Name] = true
			}
			if e.SecretRef != nil {
				secs[e.SecretRef.Name] = true
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			cms[v.ConfigMap.Name] = true
		}
		if v.Secret != nil {
			secs[v.Secret.SecretName] = true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					cms[src.ConfigMap.Name] = true
				}
				if src.Secret != nil {
					secs[src.Secret.Name] = true
				}
			}
		}
	}
	return sortedKeys(cms), sortedKeys(secs)
}

// ConfigHash hashes the data of the referenced ConfigMaps and Secrets of one
// namespace. Missing ones hash as absent, so creating one later changes the
// hash too. The result reveals nothing of secret values.
func ConfigHash(spec *corev1.PodSpec, configMaps map[string]*corev1.ConfigMap, secrets map[string]*corev1.Secret) string {
	cmNames, secNames := ConfigRefs(spec)
	if len(cmNames) == 0 && len(secNames) == 0 {
		return ""
	}
	h := sha256.New()
	for _, n := range cmNames {
		fmt.Fprintf(h, "configmap %s\n", n)
		if cm := configMaps[n]; cm != nil {
			data, _ := json.Marshal([]any{cm.Data, cm.BinaryData})
			h.Write(data)
		}
	}
	for _, n := range secNames {
		fmt.Fprintf(h, "secret %s\n", n)
		if s := secrets[n]; s != nil {
			data, _ := json.Marshal(s.Data)
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
