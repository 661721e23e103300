package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Pod Security Standards, enforced at sync time. A namespace chooses its
// level with the Kubernetes label; a namespace without it (or not committed,
// such as default) is baseline. A pod template that breaks its namespace's
// level is refused with the rule it breaks, so the commit is rejected and
// the pod never reaches a node. The checks are written by hand after the
// Pod Security Standards (kubernetes.io/docs/concepts/security/
// pod-security-standards); each error names the standard's control. Only
// the controls over fields tug supports are checked: every other field the
// standards cover (hostPorts, AppArmor, SELinux, procMount) is refused by
// the allow-list already. Sysctls outside the safe set are refused by
// validation at every level (tug has no --allowed-unsafe-sysctls), and by
// the baseline control "Sysctls" too.
const (
	// PodSecurityEnforceLabel is the namespace label that sets the level.
	PodSecurityEnforceLabel = "pod-security.kubernetes.io/enforce"

	PodSecurityPrivileged = "privileged"
	PodSecurityBaseline   = "baseline"
	PodSecurityRestricted = "restricted"

	// DefaultPodSecurityLevel applies to namespaces without the label.
	DefaultPodSecurityLevel = PodSecurityBaseline
)

// baselineCapabilities are the capabilities the baseline level lets a
// container add.
var baselineCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// safeSysctls is the kubelet's safe sysctl set (namespaced, isolated from
// the node and other pods): the only sysctls a pod may set, and the ones
// the baseline level allows.
var safeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
}

// SafeSysctls returns the safe sysctl set, the only sysctls tug applies.
func SafeSysctls() []string { return slices.Clone(safeSysctls) }

// IsSafeSysctl reports whether name (dot- or slash-separated) is in the
// safe set.
func IsSafeSysctl(name string) bool { return slices.Contains(safeSysctls, NormalizeSysctl(name)) }

// NormalizeSysctl turns a slash-separated sysctl name into the dotted form,
// as Kubernetes does: when the first separator is a slash, slashes and
// dots swap (net/ipv4/conf/eno2.100/rp_filter is
// net.ipv4.conf.eno2/100.rp_filter).
func NormalizeSysctl(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}

// podSecurityLevels reads the level of every committed namespace, checking
// the label's value.
func podSecurityLevels(objs []Decoded) (map[string]string, ErrorList) {
	levels := map[string]string{}
	var errs ErrorList
	for i := range objs {
		ns, ok := objs[i].Object.(*corev1.Namespace)
		if !ok {
			continue
		}
		v, set := ns.Labels[PodSecurityEnforceLabel]
		switch v {
		case PodSecurityPrivileged, PodSecurityBaseline, PodSecurityRestricted:
			levels[ns.Name] = v
		default:
			if set {
				c := &checker{d: &objs[i]}
				c.add("metadata.labels."+PodSecurityEnforceLabel, "must be privileged, baseline or restricted (the default is baseline)")
				errs = append(errs, c.errs...)
			}
		}
	}
	return levels, errs
}

// validatePodSecurity checks every pod template against the level of its
// namespace.
func validatePodSecurity(objs []Decoded) ErrorList {
	levels, errs := podSecurityLevels(objs)
	for i := range objs {
		d, ok := objs[i].Object.(*appsv1.Deployment)
		if !ok {
			continue
		}
		ns := d.Namespace
		if ns == "" {
			ns = DefaultNamespace
		}
		level := levels[ns]
		if level == "" {
			level = DefaultPodSecurityLevel
		}
		c := &checker{d: &objs[i]}
		checkPodSecurity(c, "spec.template.spec", &d.Spec.Template.Spec, ns, level)
		errs = append(errs, c.errs...)
	}
	return errs
}

// checkPodSecurity adds an error per control of level that spec breaks.
func checkPodSecurity(c *checker, f string, spec *corev1.PodSpec, ns, level string) {
	if level == PodSecurityPrivileged {
		return
	}
	violates := func(field, control, format string, args ...any) {
		c.add(field, "violates Pod Security level %q of namespace %s (label %s): %s (control %q); relax the namespace's level or change the pod",
			level, ns, PodSecurityEnforceLabel, fmt.Sprintf(format, args...), control)
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	// Baseline: host namespaces.
	for _, h := range []struct {
		field string
		set   bool
	}{{"hostNetwork", spec.HostNetwork}, {"hostPID", spec.HostPID}, {"hostIPC", spec.HostIPC}} {
		if h.set {
			violates(f+"."+h.field, "Host Namespaces", "%s must not be true", h.field)
		}
	}
	// Baseline: sysctls outside the safe set (refused by validation too).
	for i, s := range psc.Sysctls {
		if !IsSafeSysctl(s.Name) {
			violates(f+".securityContext.sysctls["+strconv.Itoa(i)+"].name", "Sysctls", "sysctl %q is not in the safe set", s.Name)
		}
	}
	// Baseline: HostPath Volumes.
	for i := range spec.Volumes {
		if spec.Volumes[i].HostPath != nil {
			violates(f+".volumes["+strconv.Itoa(i)+"].hostPath", "HostPath Volumes", "volume %q must not be a hostPath", spec.Volumes[i].Name)
		}
	}
	if sp := psc.SeccompProfile; sp != nil && sp.Type == corev1.SeccompProfileTypeUnconfined {
		violates(f+".securityContext.seccompProfile.type", "Seccomp", "seccompProfile.type must not be Unconfined")
	}
	restricted := level == PodSecurityRestricted
	if restricted {
		if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
			violates(f+".securityContext.runAsUser", "Running as Non-root user", "runAsUser must not be 0")
		}
	}
	type ctr struct {
		field string
		c     *corev1.Container
	}
	var all []ctr
	for i := range spec.InitContainers {
		all = append(all, ctr{f + ".initContainers[" + strconv.Itoa(i) + "]", &spec.InitContainers[i]})
	}
	for i := range spec.Containers {
		all = append(all, ctr{f + ".containers[" + strconv.Itoa(i) + "]", &spec.Containers[i]})
	}
	for _, x := range all {
		sc := x.c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		sf := x.field + ".securityContext"
		if sc.Privileged != nil && *sc.Privileged {
			violates(sf+".privileged", "Privileged Containers", "container %q must not set privileged: true", x.c.Name)
		}
		var add []string
		if sc.Capabilities != nil {
			for _, a := range sc.Capabilities.Add {
				add = append(add, strings.TrimPrefix(strings.ToUpper(string(a)), "CAP_"))
			}
		}
		for i, a := range add {
			if !restricted && !slices.Contains(baselineCapabilities, a) {
				violates(sf+".capabilities.add["+strconv.Itoa(i)+"]", "Capabilities", "container %q must not add %s (baseline allows %s)",
					x.c.Name, a, strings.Join(baselineCapabilities, ", "))
			}
		}
		if sp := sc.SeccompProfile; sp != nil && sp.Type == corev1.SeccompProfileTypeUnconfined {
			violates(sf+".seccompProfile.type", "Seccomp", "container %q must not set seccompProfile.type Unconfined", x.c.Name)
		}
		if !restricted {
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			violates(sf+".allowPrivilegeEscalation", "Privilege Escalation", "container %q must set allowPrivilegeEscalation: false", x.c.Name)
		}
		switch {
		case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
			violates(sf+".runAsNonRoot", "Running as Non-root", "container %q must not set runAsNonRoot: false", x.c.Name)
		case sc.RunAsNonRoot == nil && (psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot):
			violates(sf+".runAsNonRoot", "Running as Non-root", "container %q must set runAsNonRoot: true (or the pod's securityContext must)", x.c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			violates(sf+".runAsUser", "Running as Non-root user", "container %q must not set runAsUser: 0", x.c.Name)
		}
		if sp := sc.SeccompProfile; sp == nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			violates(sf+".seccompProfile.type", "Seccomp", "container %q must set seccompProfile.type RuntimeDefault (or the pod's securityContext must)", x.c.Name)
		}
		var drop []string
		if sc.Capabilities != nil {
			for _, d := range sc.Capabilities.Drop {
				drop = append(drop, strings.TrimPrefix(strings.ToUpper(string(d)), "CAP_"))
			}
		}
		if !slices.Contains(drop, "ALL") {
			violates(sf+".capabilities.drop", "Capabilities", "container %q must drop ALL capabilities", x.c.Name)
		}
		for i, a := range add {
			if a != "NET_BIND_SERVICE" {
				violates(sf+".capabilities.add["+strconv.Itoa(i)+"]", "Capabilities", "container %q may add only NET_BIND_SERVICE, not %s", x.c.Name, a)
			}
		}
	}
}
