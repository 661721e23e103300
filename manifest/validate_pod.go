package manifest

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

func (c *checker) deployment(d *appsv1.Deployment) {
	spec := &d.Spec
	if spec.Replicas != nil && *spec.Replicas < 0 {
		c.add("spec.replicas", "must be 0 or more")
	}
	c.nonNegative("spec.revisionHistoryLimit", spec.RevisionHistoryLimit)
	if spec.MinReadySeconds < 0 {
		c.add("spec.minReadySeconds", "must be 0 or more")
	}
	if p := spec.ProgressDeadlineSeconds; p != nil && *p <= spec.MinReadySeconds {
		c.add("spec.progressDeadlineSeconds", "must be greater than minReadySeconds (%d)", spec.MinReadySeconds)
	}
	c.selector(spec.Selector, spec.Template.Labels)
	c.strategy(&spec.Strategy)
	c.labels("spec.template.metadata.labels", spec.Template.Labels)
	c.annotations("spec.template.metadata.annotations", spec.Template.Annotations)
	c.podSpec("spec.template.spec", &spec.Template.Spec)
}

func (c *checker) nonNegative(field string, v *int32) {
	if v != nil && *v < 0 {
		c.add(field, "must be 0 or more")
	}
}

// selector checks a Deployment's selector and that it selects the pods of
// its own template.
func (c *checker) selector(sel *metav1.LabelSelector, podLabels map[string]string) {
	if sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		c.add("spec.selector", "selector is required: set spec.selector.matchLabels to labels of spec.template.metadata.labels")
		return
	}
	c.labels("spec.selector.matchLabels", sel.MatchLabels)
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		c.add("spec.selector", "invalid selector: %v", err)
		return
	}
	if !s.Matches(labels.Set(podLabels)) {
		c.add("spec.selector", "selector %q does not match the template labels %q; make spec.template.metadata.labels include the selector's labels", s.String(), labels.Set(podLabels).String())
	}
}

func (c *checker) strategy(st *appsv1.DeploymentStrategy) {
	switch st.Type {
	case "", appsv1.RollingUpdateDeploymentStrategyType:
	case appsv1.RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			c.add("spec.strategy.rollingUpdate", "must be left out when type is Recreate")
		}
		return
	default:
		c.add("spec.strategy.type", "must be RollingUpdate or Recreate")
		return
	}
	ru := st.RollingUpdate
	if ru == nil {
		return
	}
	surgeZero := c.percentOrCount("spec.strategy.rollingUpdate.maxSurge", ru.MaxSurge)
	unavailZero := c.percentOrCount("spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable)
	if ru.MaxSurge != nil && ru.MaxUnavailable != nil && surgeZero && unavailZero {
		c.add("spec.strategy.rollingUpdate", "maxSurge and maxUnavailable cannot both be 0")
	}
	if v := ru.MaxUnavailable; v != nil && v.Type == intstr.String {
		if p, ok := parsePercent(v.StrVal); ok && p > 100 {
			c.add("spec.strategy.rollingUpdate.maxUnavailable", "must not be more than 100%%")
		}
	}
}

// percentOrCount checks a count or "N%" and reports whether it is zero.
func (c *checker) percentOrCount(field string, v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			c.add(field, "must be 0 or more")
		}
		return v.IntVal == 0
	}
	p, ok := parsePercent(v.StrVal)
	if !ok {
		c.add(field, "must be a count or a percentage such as 25%%")
	}
	return ok && p == 0
}

func parsePercent(s string) (int, bool) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok || len(validation.IsValidPercent(s)) > 0 {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0
}

func (c *checker) podSpec(f string, spec *corev1.PodSpec) {
	switch kind := KindOf(c.d.Object); {
	case kind == KindJob || kind == KindCronJob:
		switch spec.RestartPolicy {
		case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
		case "":
			c.add(f+".restartPolicy", "restartPolicy is required for a %s: set Never or OnFailure", kind)
		default:
			c.add(f+".restartPolicy", "must be Never or OnFailure for a %s", kind)
		}
	case spec.RestartPolicy != "" && spec.RestartPolicy != corev1.RestartPolicyAlways:
		c.add(f+".restartPolicy", "must be Always for a %s", kind)
	}
	c.nonNegative64(f+".terminationGracePeriodSeconds", spec.TerminationGracePeriodSeconds)
	if sc := spec.SecurityContext; sc != nil {
		sf := f + ".securityContext"
		c.nonNegative64(sf+".runAsUser", sc.RunAsUser)
		c.nonNegative64(sf+".runAsGroup", sc.RunAsGroup)
		c.nonNegative64(sf+".fsGroup", sc.FSGroup)
		for i, g := range sc.SupplementalGroups {
			if g < 0 {
				c.add(sf+".supplementalGroups["+strconv.Itoa(i)+"]", "must be 0 or more")
			}
		}
		if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			c.add(sf+".runAsUser", "runAsNonRoot is true but runAsUser is 0 (root): the pod could never start")
		}
		c.seccomp(sf+".seccompProfile", sc.SeccompProfile)
	}
	for i, ps := range spec.ImagePullSecrets {
		pf := f + ".imagePullSecrets[" + strconv.Itoa(i) + "].name"
		if ps.Name == "" {
			c.add(pf, "name is required: the name of a kubernetes.io/dockerconfigjson Secret in the pod's namespace")
		} else {
			c.addAll(pf, content.IsDNS1123Subdomain(ps.Name))
		}
	}
	c.labels(f+".nodeSelector", spec.NodeSelector)
	c.scheduling(f, spec)
	c.hostAndSysctls(f, spec)
	c.envResourceRefs(f, spec)

	containerNames := map[string]bool{} // for volumes' resourceFieldRef.containerName
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, ct := range list {
			containerNames[ct.Name] = true
		}
	}
	volumes := map[string]int{}
	for i := range spec.Volumes {
		vf := f + ".volumes[" + strconv.Itoa(i) + "]"
		v := &spec.Volumes[i]
		if v.Name == "" {
			c.add(vf+".name", "name is required")
		} else {
			c.addAll(vf+".name", content.IsDNS1123Label(v.Name))
			if j, dup := volumes[v.Name]; dup {
				c.add(vf+".name", "volume %q is also defined at volumes[%d]", v.Name, j)
			}
			volumes[v.Name] = i
		}
		c.volumeSource(vf, v, containerNames)
	}
	for name, i := range c.claimVolumes { // StatefulSet volumeClaimTemplates
		if _, ok := volumes[name]; !ok {
			volumes[name] = i
		}
	}

	if len(spec.Containers) == 0 {
		c.add(f+".containers", "at least one container is required")
	}
	names := map[string]int{}
	portNames := map[string]string{}
	initNames := map[string]int{}
	for i := range spec.InitContainers {
		cf := f + ".initContainers[" + strconv.Itoa(i) + "]"
		ct := &spec.InitContainers[i]
		if ct.Name == "" {
			c.add(cf+".name", "name is required")
		} else {
			c.addAll(cf+".name", content.IsDNS1123Label(ct.Name))
			if j, dup := initNames[ct.Name]; dup {
				c.add(cf+".name", "container name %q is also used by initContainers[%d]", ct.Name, j)
			} else {
				initNames[ct.Name] = i
			}
		}
		c.container(cf, ct, volumes, map[string]string{})
	}
	for i := range spec.Containers {
		cf := f + ".containers[" + strconv.Itoa(i) + "]"
		ct := &spec.Containers[i]
		if ct.Name == "" {
			c.add(cf+".name", "name is required")
		} else {
			c.addAll(cf+".name", content.IsDNS1123Label(ct.Name))
			if j, dup := names[ct.Name]; dup {
				c.add(cf+".name", "container name %q is also used by containers[%d]", ct.Name, j)
			}
			if j, dup := initNames[ct.Name]; dup {
				c.add(cf+".name", "container name %q is also used by initContainers[%d]", ct.Name, j)
			}
			names[ct.Name] = i
		}
		c.container(cf, ct, volumes, portNames)
	}
}

func (c *checker) nonNegative64(field string, v *int64) {
	if v != nil && *v < 0 {
		c.add(field, "must be 0 or more")
	}
}

// volumeSource checks one volume; containers are the names of the pod's
// containers (init containers included), which a downwardAPI item's
// resourceFieldRef must name.
func (c *checker) volumeSource(vf string, v *corev1.Volume, containers map[string]bool) {
	var sources []string
	if e := v.EmptyDir; e != nil {
		sources = append(sources, "emptyDir")
		switch e.Medium {
		case corev1.StorageMediumDefault, corev1.StorageMediumMemory:
		default:
			c.add(vf+".emptyDir.medium", "must be left out or Memory")
		}
		if e.SizeLimit != nil && e.SizeLimit.Sign() < 0 {
			c.add(vf+".emptyDir.sizeLimit", "must not be negative")
		}
	}
	if cm := v.ConfigMap; cm != nil {
		sources = append(sources, "configMap")
		if cm.Name == "" {
			c.add(vf+".configMap.name", "name of the ConfigMap is required")
		}
		c.keyItems(vf+".configMap", cm.Items, cm.DefaultMode)
	}
	if s := v.Secret; s != nil {
		sources = append(sources, "secret")
		if s.SecretName == "" {
			c.add(vf+".secret.secretName", "secretName is required")
		}
		c.keyItems(vf+".secret", s.Items, s.DefaultMode)
	}
	if h := v.HostPath; h != nil {
		sources = append(sources, "hostPath")
		switch {
		case h.Path == "":
			c.add(vf+".hostPath.path", "path is required")
		case !path.IsAbs(h.Path):
			c.add(vf+".hostPath.path", "must be an absolute path")
		case slices.Contains(strings.Split(h.Path, "/"), ".."):
			c.add(vf+".hostPath.path", "must not contain '..'")
		}
		if h.Type != nil {
			switch *h.Type {
			case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
				corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev:
			default:
				c.add(vf+".hostPath.type", "must be one of DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice or empty")
			}
		}
	}
	if pvc := v.PersistentVolumeClaim; pvc != nil {
		sources = append(sources, "persistentVolumeClaim")
		c.claimVolume(vf, pvc)
	}
	if d := v.DownwardAPI; d != nil {
		sources = append(sources, "downwardAPI")
		c.fileMode(vf+".downwardAPI.defaultMode", d.DefaultMode)
		c.downwardItems(vf+".downwardAPI", d.Items, map[string]string{}, containers)
	}
	if p := v.Projected; p != nil {
		sources = append(sources, "projected")
		c.fileMode(vf+".projected.defaultMode", p.DefaultMode)
		paths := map[string]string{} // path -> field that projects it
		for i, ps := range p.Sources {
			sf := vf + ".projected.sources[" + strconv.Itoa(i) + "]"
			var kinds []string
			if cm := ps.ConfigMap; cm != nil {
				kinds = append(kinds, "configMap")
				if cm.Name == "" {
					c.add(sf+".configMap.name", "name of the ConfigMap is required")
				}
				c.keyItems(sf+".configMap", cm.Items, nil)
				c.projectedPaths(sf+".configMap", cm.Items, paths)
			}
			if s := ps.Secret; s != nil {
				kinds = append(kinds, "secret")
				if s.Name == "" {
					c.add(sf+".secret.name", "name of the Secret is required")
				}
				c.keyItems(sf+".secret", s.Items, nil)
				c.projectedPaths(sf+".secret", s.Items, paths)
			}
			if d := ps.DownwardAPI; d != nil {
				kinds = append(kinds, "downwardAPI")
				c.downwardItems(sf+".downwardAPI", d.Items, paths, containers)
			}
			switch len(kinds) {
			case 0:
				c.add(sf, "a projected source needs one of configMap, secret or downwardAPI")
			case 1:
			default:
				c.add(sf, "a projected source may have only one of configMap, secret or downwardAPI, not %s", strings.Join(kinds, " and "))
			}
		}
	}
	switch len(sources) {
	case 0:
		c.add(vf, "a volume needs one of emptyDir, hostPath, configMap, secret, downwardAPI or projected")
	case 1:
	default:
		c.add(vf, "a volume may have only one of emptyDir, hostPath, configMap, secret, downwardAPI or projected, not %s", strings.Join(sources, " and "))
	}
}

// projectedPaths records the item paths of one projected source, refusing
// a path another source already projects.
func (c *checker) projectedPaths(f string, items []corev1.KeyToPath, paths map[string]string) {
	for i, it := range items {
		itf := f + ".items[" + strconv.Itoa(i) + "].path"
		if other, dup := paths[it.Path]; dup && it.Path != "" {
			c.add(itf, "path %q is also projected by %s", it.Path, other)
			continue
		}
		paths[it.Path] = itf
	}
}

// downwardVolumeFields are the fieldRef paths a downwardAPI volume item may
// name (besides metadata.labels['k'] and metadata.annotations['k']).
var downwardVolumeFields = []string{"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations"}

// downwardItems checks the items of a downwardAPI volume or projected
// source; paths (shared by a projected volume's sources) refuses duplicates.
// An item has a fieldRef or a resourceFieldRef; the latter must name one of
// containers (in a volume there is no container to default to, as in
// Kubernetes).
func (c *checker) downwardItems(f string, items []corev1.DownwardAPIVolumeFile, paths map[string]string, containers map[string]bool) {
	for i, it := range items {
		itf := f + ".items[" + strconv.Itoa(i) + "]"
		c.relativePath(itf+".path", it.Path, true)
		if other, dup := paths[it.Path]; dup && it.Path != "" {
			c.add(itf+".path", "path %q is also used by %s", it.Path, other)
		} else {
			paths[it.Path] = itf + ".path"
		}
		c.fileMode(itf+".mode", it.Mode)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			c.add(itf, "set fieldRef or resourceFieldRef, not both")
		case it.ResourceFieldRef != nil:
			rf := itf + ".resourceFieldRef"
			switch name := it.ResourceFieldRef.ContainerName; {
			case name == "":
				c.add(rf+".containerName", "containerName is required in a volume: name the container whose resources to write")
			case !containers[name]:
				c.add(rf+".containerName", "no container named %q in the pod", name)
			}
			c.resourceFieldRef(rf, it.ResourceFieldRef)
		case it.FieldRef == nil:
			c.add(itf+".fieldRef", "fieldRef or resourceFieldRef is required")
		case it.FieldRef.APIVersion != "" && it.FieldRef.APIVersion != "v1":
			c.add(itf+".fieldRef.apiVersion", "must be v1")
		default:
			fp := it.FieldRef.FieldPath
			if slices.Contains(downwardVolumeFields, fp) || subscripted(fp, "metadata.labels") || subscripted(fp, "metadata.annotations") {
				break
			}
			c.add(itf+".fieldRef.fieldPath", "must be one of %s, or metadata.labels['<key>'] or metadata.annotations['<key>']", strings.Join(downwardVolumeFields, ", "))
		}
	}
}

// subscripted reports whether fp is prefix['<key>'] with a non-empty key.
func subscripted(fp, prefix string) bool {
	rest, ok := strings.CutPrefix(fp, prefix+"['")
	if !ok {
		return false
	}
	key, ok := strings.CutSuffix(rest, "']")
	return ok && key != ""
}

func (c *checker) keyItems(f string, items []corev1.KeyToPath, defaultMode *int32) {
	c.fileMode(f+".defaultMode", defaultMode)
	paths := map[string]int{}
	for i, it := range items {
		itf := f + ".items[" + strconv.Itoa(i) + "]"
		if it.Key == "" {
			c.add(itf+".key", "key is required")
		} else {
			c.addAll(itf+".key", validation.IsConfigMapKey(it.Key))
		}
		c.relativePath(itf+".path", it.Path, true)
		if j, dup := paths[it.Path]; dup && it.Path != "" {
			c.add(itf+".path", "path %q is also used by items[%d]", it.Path, j)
		}
		paths[it.Path] = i
		c.fileMode(itf+".mode", it.Mode)
	}
}

func (c *checker) fileMode(field string, mode *int32) {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		c.add(field, "must be a file mode between 0 and 0777 (octal) or 511 (decimal)")
	}
}

// relativePath checks a path that must stay inside a volume.
func (c *checker) relativePath(field, p string, required bool) {
	switch {
	case p == "":
		if required {
			c.add(field, "path is required")
		}
	case path.IsAbs(p):
		c.add(field, "must be a relative path")
	case strings.Contains(p, "\x00"):
		c.add(field, "must not contain NUL")
	default:
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." {
				c.add(field, "must not contain '..'")
				return
			}
		}
	}
}

func (c *checker) container(cf string, ct *corev1.Container, volumes map[string]int, podPorts map[string]string) {
	switch {
	case strings.TrimSpace(ct.Image) == "":
		c.add(cf+".image", "image is required")
	case strings.TrimSpace(ct.Image) != ct.Image:
		c.add(cf+".image", "must not have leading or trailing spaces")
	}
	switch ct.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		c.add(cf+".imagePullPolicy", "must be Always, IfNotPresent or Never")
	}
	if ct.WorkingDir != "" && !path.IsAbs(ct.WorkingDir) {
		c.add(cf+".workingDir", "must be an absolute path")
	}
	for i, p := range ct.Ports {
		pf := cf + ".ports[" + strconv.Itoa(i) + "]"
		c.addAll(pf+".containerPort", validation.IsValidPortNum(int(p.ContainerPort)))
		c.protocol(pf+".protocol", p.Protocol)
		if p.Name != "" {
			c.addAll(pf+".name", validation.IsValidPortName(p.Name))
			if other, dup := podPorts[p.Name]; dup {
				c.add(pf+".name", "port name %q is also used by %s", p.Name, other)
			}
			podPorts[p.Name] = pf
		}
	}
	envNames := map[string]int{}
	for i := range ct.Env {
		ef := cf + ".env[" + strconv.Itoa(i) + "]"
		e := &ct.Env[i]
		if e.Name == "" {
			c.add(ef+".name", "name is required")
		} else {
			c.addAll(ef+".name", validation.IsEnvVarName(e.Name))
			if j, dup := envNames[e.Name]; dup {
				c.add(ef+".name", "env var %q is also set by env[%d]", e.Name, j)
			}
			envNames[e.Name] = i
		}
		c.envSource(ef, e)
	}
	for i, ef := range ct.EnvFrom {
		f := cf + ".envFrom[" + strconv.Itoa(i) + "]"
		if ef.Prefix != "" {
			c.addAll(f+".prefix", validation.IsEnvVarName(ef.Prefix))
		}
		switch {
		case ef.ConfigMapRef != nil && ef.SecretRef != nil:
			c.add(f, "set configMapRef or secretRef, not both")
		case ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == "":
			c.add(f+".configMapRef.name", "name is required")
		case ef.SecretRef != nil && ef.SecretRef.Name == "":
			c.add(f+".secretRef.name", "name is required")
		case ef.ConfigMapRef == nil && ef.SecretRef == nil:
			c.add(f, "one of configMapRef or secretRef is required")
		}
	}
	c.resources(cf+".resources", &ct.Resources)
	mounts := map[string]int{}
	for i, m := range ct.VolumeMounts {
		mf := cf + ".volumeMounts[" + strconv.Itoa(i) + "]"
		if _, ok := volumes[m.Name]; !ok {
			c.add(mf+".name", "no volume named %q in spec.template.spec.volumes", m.Name)
		}
		switch {
		case m.MountPath == "":
			c.add(mf+".mountPath", "mountPath is required")
		case !path.IsAbs(m.MountPath):
			c.add(mf+".mountPath", "must be an absolute path")
		default:
			clean := path.Clean(m.MountPath)
			if j, dup := mounts[clean]; dup {
				c.add(mf+".mountPath", "path %q is also mounted by volumeMounts[%d]", clean, j)
			}
			mounts[clean] = i
		}
		c.relativePath(mf+".subPath", m.SubPath, false)
	}
	c.containerSecurity(cf+".securityContext", ct.SecurityContext)
	c.probe(cf+".livenessProbe", ct.LivenessProbe, ct, true)
	c.probe(cf+".readinessProbe", ct.ReadinessProbe, ct, false)
	c.probe(cf+".startupProbe", ct.StartupProbe, ct, true)
	if lc := ct.Lifecycle; lc != nil {
		c.lifecycleHandler(cf+".lifecycle.postStart", lc.PostStart, ct)
		c.lifecycleHandler(cf+".lifecycle.preStop", lc.PreStop, ct)
	}
}

// lifecycleHandler checks a postStart or preStop hook: exec or httpGet,
// checked as a probe's handler.
func (c *checker) lifecycleHandler(f string, h *corev1.LifecycleHandler, ct *corev1.Container) {
	if h == nil {
		return
	}
	if h.Exec == nil && h.HTTPGet == nil {
		c.add(f, "a lifecycle hook needs exec or httpGet")
		return
	}
	c.probe(f, &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet}}, ct, false)
}

// containerSecurity checks a container's securityContext.
func (c *checker) containerSecurity(f string, sc *corev1.SecurityContext) {
	if sc == nil {
		return
	}
	c.nonNegative64(f+".runAsUser", sc.RunAsUser)
	c.nonNegative64(f+".runAsGroup", sc.RunAsGroup)
	if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		c.add(f+".runAsUser", "runAsNonRoot is true but runAsUser is 0 (root): the container could never start")
	}
	privileged := sc.Privileged != nil && *sc.Privileged
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if privileged {
			c.add(f+".allowPrivilegeEscalation", "cannot be false when privileged is true")
		}
		if caps := sc.Capabilities; caps != nil && slices.ContainsFunc(caps.Add, func(x corev1.Capability) bool {
			return strings.EqualFold(strings.TrimPrefix(strings.ToUpper(string(x)), "CAP_"), "SYS_ADMIN")
		}) {
			c.add(f+".allowPrivilegeEscalation", "cannot be false when capabilities.add has SYS_ADMIN")
		}
	}
	if caps := sc.Capabilities; caps != nil {
		for _, list := range []struct {
			name string
			caps []corev1.Capability
		}{{"add", caps.Add}, {"drop", caps.Drop}} {
			for i, x := range list.caps {
				if !validCapability(string(x)) {
					c.add(f+".capabilities."+list.name+"["+strconv.Itoa(i)+"]",
						"%q is not a Linux capability; use a name such as NET_BIND_SERVICE (CAP_ prefix optional) or ALL", x)
				}
			}
		}
	}
	c.seccomp(f+".seccompProfile", sc.SeccompProfile)
}

// validCapability reports whether name is ALL or a capability name:
// letters and underscores, with or without CAP_.
func validCapability(name string) bool {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	if n == "" {
		return false
	}
	for _, r := range n {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

func (c *checker) seccomp(f string, sp *corev1.SeccompProfile) {
	if sp == nil {
		return
	}
	switch sp.Type {
	case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined:
	case corev1.SeccompProfileTypeLocalhost:
		c.add(f+".type", "Localhost profiles are not supported by tug yet; use RuntimeDefault (tug's default) or Unconfined")
	default:
		c.add(f+".type", "must be RuntimeDefault or Unconfined")
	}
}

// probe checks a liveness, readiness or startup probe the way the API
// server does; a zero timing field takes Kubernetes' default. successOnce is
// set for liveness and startup probes, whose successThreshold must be 1.
func (c *checker) probe(f string, p *corev1.Probe, ct *corev1.Container, successOnce bool) {
	if p == nil {
		return
	}
	for _, fld := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", p.InitialDelaySeconds},
		{"periodSeconds", p.PeriodSeconds},
		{"timeoutSeconds", p.TimeoutSeconds},
		{"successThreshold", p.SuccessThreshold},
		{"failureThreshold", p.FailureThreshold},
	} {
		if fld.v < 0 {
			c.add(f+"."+fld.name, "must be 0 or more (0 or left out: the Kubernetes default)")
		}
	}
	if successOnce && p.SuccessThreshold > 1 {
		c.add(f+".successThreshold", "must be 1 for liveness and startup probes")
	}
	var handlers []string
	if e := p.Exec; e != nil {
		handlers = append(handlers, "exec")
		if len(e.Command) == 0 {
			c.add(f+".exec.command", "command is required")
		}
	}
	if g := p.HTTPGet; g != nil {
		handlers = append(handlers, "httpGet")
		c.probePort(f+".httpGet.port", g.Port, ct)
		switch g.Scheme {
		case "", corev1.URISchemeHTTP, corev1.URISchemeHTTPS:
		default:
			c.add(f+".httpGet.scheme", "must be HTTP or HTTPS")
		}
		if g.Path != "" && !strings.HasPrefix(g.Path, "/") {
			c.add(f+".httpGet.path", "must be an absolute path (start with /)")
		}
		for i, h := range g.HTTPHeaders {
			c.addAll(f+".httpGet.httpHeaders["+strconv.Itoa(i)+"].name", validation.IsHTTPHeaderName(h.Name))
		}
	}
	if s := p.TCPSocket; s != nil {
		handlers = append(handlers, "tcpSocket")
		c.probePort(f+".tcpSocket.port", s.Port, ct)
	}
	if g := p.GRPC; g != nil {
		handlers = append(handlers, "grpc")
		c.addAll(f+".grpc.port", validation.IsValidPortNum(int(g.Port)))
	}
	switch len(handlers) {
	case 0:
		c.add(f, "a probe needs one of exec, httpGet, tcpSocket or grpc")
	case 1:
	default:
		c.add(f, "a probe may have only one of exec, httpGet, tcpSocket or grpc, not %s", strings.Join(handlers, " and "))
	}
}

// probePort checks a probe's port: a number, or the name of one of the
// container's ports.
func (c *checker) probePort(f string, port intstr.IntOrString, ct *corev1.Container) {
	if port.Type == intstr.Int {
		c.addAll(f, validation.IsValidPortNum(int(port.IntVal)))
		return
	}
	if errs := validation.IsValidPortName(port.StrVal); len(errs) > 0 {
		c.addAll(f, errs)
		return
	}
	for _, p := range ct.Ports {
		if p.Name == port.StrVal {
			return
		}
	}
	c.add(f, "container %q has no port named %q; name one in ports[*].name or give the number", ct.Name, port.StrVal)
}

func (c *checker) envSource(ef string, e *corev1.EnvVar) {
	src := e.ValueFrom
	if src == nil {
		return
	}
	if e.Value != "" {
		c.add(ef+".valueFrom", "set value or valueFrom, not both")
	}
	n := 0
	if r := src.ConfigMapKeyRef; r != nil {
		n++
		c.keyRef(ef+".valueFrom.configMapKeyRef", r.Name, r.Key)
	}
	if r := src.SecretKeyRef; r != nil {
		n++
		c.keyRef(ef+".valueFrom.secretKeyRef", r.Name, r.Key)
	}
	if r := src.FieldRef; r != nil {
		n++
		if r.APIVersion != "" && r.APIVersion != "v1" {
			c.add(ef+".valueFrom.fieldRef.apiVersion", "must be v1 or left out")
		}
		if !IsSupportedFieldRef(r.FieldPath) {
			c.add(ef+".valueFrom.fieldRef.fieldPath", "%q is not supported; use one of %s, metadata.labels['<key>'] or metadata.annotations['<key>']",
				r.FieldPath, strings.Join(supportedFieldRefs, ", "))
		}
	}
	if r := src.ResourceFieldRef; r != nil {
		n++
		c.resourceFieldRef(ef+".valueFrom.resourceFieldRef", r)
	}
	if n != 1 {
		c.add(ef+".valueFrom", "set exactly one of configMapKeyRef, secretKeyRef, fieldRef or resourceFieldRef")
	}
}

func (c *checker) keyRef(f, name, key string) {
	if name == "" {
		c.add(f+".name", "name is required")
	}
	if key == "" {
		c.add(f+".key", "key is required")
	} else {
		c.addAll(f+".key", validation.IsConfigMapKey(key))
	}
}

func (c *checker) resources(f string, r *corev1.ResourceRequirements) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if hasReq && req.Sign() < 0 {
			c.add(f+".requests."+string(name), "must not be negative")
		}
		if hasLim && lim.Sign() < 0 {
			c.add(f+".limits."+string(name), "must not be negative")
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			c.add(f+".requests."+string(name), "request %s is more than the limit %s", req.String(), lim.String())
		}
	}
}

// hostAndSysctls checks the host namespaces and the pod's sysctls as the
// API server does: only the safe set (SafeSysctls; the kubelet's
// --allowed-unsafe-sysctls is not supported), no duplicates, and no
// network sysctl with hostNetwork nor IPC sysctl with hostIPC (they would
// change the node's own settings).
func (c *checker) hostAndSysctls(f string, spec *corev1.PodSpec) {
	sc := spec.SecurityContext
	if sc == nil {
		return
	}
	seen := map[string]int{}
	for i, s := range sc.Sysctls {
		sf := f + ".securityContext.sysctls[" + strconv.Itoa(i) + "]"
		name := NormalizeSysctl(s.Name)
		switch {
		case s.Name == "":
			c.add(sf+".name", "name is required")
			continue
		case !sysctlName.MatchString(name):
			c.add(sf+".name", "%q is not a sysctl name (such as net.ipv4.tcp_syncookies)", s.Name)
			continue
		case !IsSafeSysctl(name):
			c.add(sf+".name", "sysctl %q is not in the safe set (%s); unsafe sysctls need the kubelet's --allowed-unsafe-sysctls, which tug does not support",
				s.Name, strings.Join(safeSysctls, ", "))
			continue
		}
		if j, dup := seen[name]; dup {
			c.add(sf+".name", "sysctl %q is also set by sysctls[%d]", s.Name, j)
		}
		seen[name] = i
		if spec.HostNetwork && strings.HasPrefix(name, "net.") {
			c.add(sf+".name", "sysctl %q cannot be set with hostNetwork: it would change the node's own network settings", s.Name)
		}
		if spec.HostIPC && (strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg") ||
			name == "kernel.sem" || strings.HasPrefix(name, "fs.mqueue.")) {
			c.add(sf+".name", "sysctl %q cannot be set with hostIPC: it would change the node's own IPC settings", s.Name)
		}
	}
}

// sysctlName is the API server's sysctl name pattern (dots as separators).
var sysctlName = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

// resourceFieldRefs are the resources an env var's or a downwardAPI volume
// item's resourceFieldRef may name, as in Kubernetes.
var resourceFieldRefs = []string{
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage",
}

// resourceFieldRef checks an env var's or a downwardAPI volume item's
// resourceFieldRef: the resource,
// the divisor the API server allows for it (1m or 1 for CPU; 1, or 1 of a
// decimal or binary unit, for memory and storage). envResourceRefs checks
// containerName.
func (c *checker) resourceFieldRef(f string, r *corev1.ResourceFieldSelector) {
	if !slices.Contains(resourceFieldRefs, r.Resource) {
		c.add(f+".resource", "must be one of %s", strings.Join(resourceFieldRefs, ", "))
		return
	}
	if r.Divisor.IsZero() {
		return // the default, 1
	}
	d := r.Divisor.String()
	if strings.HasSuffix(r.Resource, ".cpu") {
		if d != "1" && d != "1m" {
			c.add(f+".divisor", "must be 1m or 1 for %s", r.Resource)
		}
		return
	}
	switch d {
	case "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei":
	default:
		c.add(f+".divisor", "must be 1, or 1 of a unit (1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei) for %s", r.Resource)
	}
}

// envResourceRefs checks the containerName of every env resourceFieldRef
// against the pod's containers.
func (c *checker) envResourceRefs(f string, spec *corev1.PodSpec) {
	names := map[string]bool{}
	for _, ct := range spec.InitContainers {
		names[ct.Name] = true
	}
	for _, ct := range spec.Containers {
		names[ct.Name] = true
	}
	for _, list := range []struct {
		field string
		cs    []corev1.Container
	}{{f + ".initContainers", spec.InitContainers}, {f + ".containers", spec.Containers}} {
		for i := range list.cs {
			for j, e := range list.cs[i].Env {
				if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.ContainerName != "" {
					r := e.ValueFrom.ResourceFieldRef
					if !names[r.ContainerName] {
						c.add(list.field+"["+strconv.Itoa(i)+"].env["+strconv.Itoa(j)+"].valueFrom.resourceFieldRef.containerName",
							"no container named %q in the pod", r.ContainerName)
					}
				}
			}
		}
	}
}
