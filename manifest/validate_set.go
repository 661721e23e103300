package manifest

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// validateSet checks the rules that span objects: one definition per
// kind/namespace/name, namespaces that exist, references to ConfigMaps and
// Secrets that exist, and node ports and cluster IPs used once.
func validateSet(objs []Decoded) ErrorList {
	var errs ErrorList
	first := map[Key]*Decoded{}
	namespaces := map[string]bool{DefaultNamespace: true}
	data := map[Key]dataKeys{} // ConfigMaps and Secrets, for their keys
	keys := make([]Key, len(objs))
	for i := range objs {
		d := &objs[i]
		if d.Object == nil {
			continue
		}
		key := KeyOf(d.Object)
		keys[i] = key
		if prev, dup := first[key]; dup {
			c := &checker{d: d}
			c.add("metadata.name", "%s is defined twice: here and at %s; remove one", describeObject(d.Object), prev.Source)
			errs = append(errs, c.errs...)
			continue
		}
		first[key] = d
		switch obj := d.Object.(type) {
		case *corev1.Namespace:
			namespaces[obj.Name] = true
		case *corev1.ConfigMap:
			data[key] = dataKeys{cm: obj}
		case *corev1.Secret:
			data[key] = dataKeys{secret: obj}
		}
	}

	nodePorts := map[string]string{}  // "30080/TCP" → where
	clusterIPs := map[string]string{} // "10.43.0.5" → where
	for i := range objs {
		d := &objs[i]
		if d.Object == nil || first[keys[i]] != d {
			continue
		}
		c := &checker{d: d}
		kind := KindOf(d.Object)
		if ns := d.Object.GetNamespace(); Namespaced(kind) && ns != "" && !namespaces[ns] {
			c.add("metadata.namespace", "namespace %q does not exist; add a Namespace manifest (apiVersion: v1, kind: Namespace, metadata.name: %s) to the repository", ns, ns)
		}
		switch obj := d.Object.(type) {
		case *appsv1.Deployment:
			r := refChecker{c: c, namespace: obj.Namespace, data: data}
			r.podSpec("spec.template.spec", &obj.Spec.Template.Spec)
		case *appsv1.StatefulSet:
			r := refChecker{c: c, namespace: obj.Namespace, data: data}
			r.podSpec("spec.template.spec", &obj.Spec.Template.Spec)
		case *appsv1.DaemonSet:
			r := refChecker{c: c, namespace: obj.Namespace, data: data}
			r.podSpec("spec.template.spec", &obj.Spec.Template.Spec)
		case *batchv1.Job:
			r := refChecker{c: c, namespace: obj.Namespace, data: data}
			r.podSpec("spec.template.spec", &obj.Spec.Template.Spec)
		case *batchv1.CronJob:
			r := refChecker{c: c, namespace: obj.Namespace, data: data}
			r.podSpec("spec.jobTemplate.spec.template.spec", &obj.Spec.JobTemplate.Spec.Template.Spec)
		case *corev1.Service:
			where := fmt.Sprintf("Service %s/%s at %s", obj.Namespace, obj.Name, d.Source)
			if ip := obj.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
				if other, dup := clusterIPs[ip]; dup {
					c.add("spec.clusterIP", "cluster IP %s is also used by %s", ip, other)
				} else {
					clusterIPs[ip] = where
				}
			}
			for j, p := range obj.Spec.Ports {
				if p.NodePort == 0 {
					continue
				}
				np := fmt.Sprintf("%d/%s", p.NodePort, protocolOrTCP(p.Protocol))
				if other, dup := nodePorts[np]; dup {
					c.add("spec.ports["+strconv.Itoa(j)+"].nodePort", "node port %s is also used by %s", np, other)
				} else {
					nodePorts[np] = where
				}
			}
		}
		errs = append(errs, c.errs...)
	}
	return errs
}

// refChecker checks a pod spec's references to ConfigMaps and Secrets of
// its namespace.
type refChecker struct {
	c         *checker
	namespace string
	data      map[Key]dataKeys
}

// dataKeys is a ConfigMap or Secret whose keys references may name; the
// keys are looked up when a reference needs them (no set is built per
// object: most are never referenced by key).
type dataKeys struct {
	cm     *corev1.ConfigMap
	secret *corev1.Secret
}

func (d dataKeys) has(k string) bool {
	if d.secret != nil {
		_, ok := d.secret.Data[k]
		return ok
	}
	if _, ok := d.cm.Data[k]; ok {
		return true
	}
	_, ok := d.cm.BinaryData[k]
	return ok
}

func (r *refChecker) podSpec(f string, spec *corev1.PodSpec) {
	for i, ct := range spec.Containers {
		cf := f + ".containers[" + strconv.Itoa(i) + "]"
		for j, e := range ct.Env {
			if e.ValueFrom == nil {
				continue
			}
			ef := cf + ".env[" + strconv.Itoa(j) + "].valueFrom"
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
				r.check(ef+".configMapKeyRef", KindConfigMap, ref.Name, ref.Optional, ref.Key)
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil {
				r.check(ef+".secretKeyRef", KindSecret, ref.Name, ref.Optional, ref.Key)
			}
		}
		for j, e := range ct.EnvFrom {
			ef := cf + ".envFrom[" + strconv.Itoa(j) + "]"
			if ref := e.ConfigMapRef; ref != nil {
				r.check(ef+".configMapRef", KindConfigMap, ref.Name, ref.Optional)
			}
			if ref := e.SecretRef; ref != nil {
				r.check(ef+".secretRef", KindSecret, ref.Name, ref.Optional)
			}
		}
	}
	for i, v := range spec.Volumes {
		vf := f + ".volumes[" + strconv.Itoa(i) + "]"
		if cm := v.ConfigMap; cm != nil {
			r.check(vf+".configMap", KindConfigMap, cm.Name, cm.Optional, itemKeys(cm.Items)...)
		}
		if s := v.Secret; s != nil {
			r.check(vf+".secret", KindSecret, s.SecretName, s.Optional, itemKeys(s.Items)...)
		}
	}
}

func itemKeys(items []corev1.KeyToPath) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys
}

// check reports a reference to a missing object or missing keys, unless the
// reference is optional. Keys are named, values never.
func (r *refChecker) check(f, kind, name string, optional *bool, keys ...string) {
	if name == "" || optional != nil && *optional {
		return
	}
	have, ok := r.data[Key{Kind: kind, Namespace: r.namespace, Name: name}]
	if !ok {
		r.c.add(f, "%s %q does not exist in namespace %q; commit it or mark the reference optional: true", kind, name, r.namespace)
		return
	}
	for _, k := range keys {
		if k != "" && !have.has(k) {
			r.c.add(f, "%s %s/%s has no key %q; add it or mark the reference optional: true", kind, r.namespace, name, k)
		}
	}
}
