package manifest

import (
	"slices"
	"strings"
)

// supportedFields is the allow-list of fields tug implements, per kind.
// A field present in a committed manifest but missing here is refused by
// name ("field is not supported by tug yet"), never silently ignored.
//
// Each entry is a JSON path; "[*]" stands for every element of a list. An
// entry allows the whole subtree below it (so "metadata.labels" allows every
// label), and its parents are allowed as containers only. To support a new
// field, add its path here once the code that honours it exists.
var supportedFields = map[string][]string{
	KindNamespace: metadataFields,
	KindConfigMap: join(metadataFields, []string{
		"data",
		"binaryData",
		"immutable",
	}),
	KindSecret: join(metadataFields, []string{
		"type",
		"data",
		"stringData",
		"immutable",
	}),
	KindService: join(metadataFields, []string{
		"spec.type",
		"spec.selector",
		"spec.clusterIP",
		"spec.sessionAffinity",
		"spec.ports[*].name",
		"spec.ports[*].port",
		"spec.ports[*].targetPort",
		"spec.ports[*].protocol",
		"spec.ports[*].nodePort",
		"spec.externalTrafficPolicy",
		"spec.externalName",
		"spec.sessionAffinityConfig.clientIP.timeoutSeconds",
	}),
	KindDeployment: join(metadataFields, []string{
		"spec.replicas",
		"spec.selector",
		"spec.strategy.type",
		"spec.strategy.rollingUpdate.maxSurge",
		"spec.strategy.rollingUpdate.maxUnavailable",
		"spec.revisionHistoryLimit",
		"spec.minReadySeconds",
		"spec.progressDeadlineSeconds",
		"spec.paused",
		"spec.template.metadata.labels",
		"spec.template.metadata.annotations",
	}, prefixed("spec.template.spec.", podSpecFields), prefixed("spec.template.spec.", initContainerFields())),
	KindJob: join(metadataFields, prefixed("spec.", jobSpecFields())),
	KindStatefulSet: join(metadataFields, []string{
		"spec.replicas",
		"spec.selector",
		"spec.serviceName",
		"spec.podManagementPolicy",
		"spec.updateStrategy.type",
		"spec.updateStrategy.rollingUpdate.partition",
		"spec.minReadySeconds",
		"spec.template.metadata.labels",
		"spec.template.metadata.annotations",
	}, prefixed("spec.template.spec.", podSpecFields), prefixed("spec.template.spec.", initContainerFields()), statefulSetClaimFields),
	KindDaemonSet: join(metadataFields, []string{
		"spec.selector",
		"spec.updateStrategy.type",
		"spec.updateStrategy.rollingUpdate.maxUnavailable",
		"spec.minReadySeconds",
		"spec.template.metadata.labels",
		"spec.template.metadata.annotations",
	}, prefixed("spec.template.spec.", podSpecFields), prefixed("spec.template.spec.", initContainerFields())),
	KindCronJob: join(metadataFields, []string{
		"spec.schedule",
		"spec.timeZone",
		"spec.concurrencyPolicy",
		"spec.startingDeadlineSeconds",
		"spec.successfulJobsHistoryLimit",
		"spec.failedJobsHistoryLimit",
		"spec.suspend",
		"spec.jobTemplate.metadata.labels",
		"spec.jobTemplate.metadata.annotations",
	}, prefixed("spec.jobTemplate.spec.", jobSpecFields())),
	KindNetworkPolicy: join(metadataFields, []string{
		"spec.podSelector",
		"spec.policyTypes",
	}, prefixed("spec.ingress[*].", policyRuleFields("from")), prefixed("spec.egress[*].", policyRuleFields("to"))),
	// Storage: see validate_storage.go.
	KindPersistentVolume:      join(metadataFields, persistentVolumeFields),
	KindPersistentVolumeClaim: join(metadataFields, prefixed("spec.", claimSpecFields)),
	KindStorageClass:          join(metadataFields, storageClassFields),
	// PodDisruptionBudgets gate the drain of cordoned nodes (reconciler/drain.go).
	KindPodDisruptionBudget: join(metadataFields, []string{
		"spec.minAvailable",
		"spec.maxUnavailable",
		"spec.selector",
		"spec.unhealthyPodEvictionPolicy",
	}),
	KindNode: join(metadataFields, []string{
		"spec.taints[*].key",
		"spec.taints[*].value",
		"spec.taints[*].effect",
		"spec.unschedulable",
	}),
	KindEndpoints: join(metadataFields, []string{
		"subsets[*].addresses[*].ip",
		"subsets[*].addresses[*].hostname",
		"subsets[*].notReadyAddresses[*].ip",
		"subsets[*].notReadyAddresses[*].hostname",
		"subsets[*].ports[*].name",
		"subsets[*].ports[*].port",
		"subsets[*].ports[*].protocol",
	}),
	KindResourceQuota: join(metadataFields, []string{
		"spec.hard",
	}),
	KindLimitRange: join(metadataFields, []string{
		"spec.limits[*].type",
		"spec.limits[*].min",
		"spec.limits[*].max",
		"spec.limits[*].default",
		"spec.limits[*].defaultRequest",
		"spec.limits[*].maxLimitRequestRatio",
	}),
}

// jobSpecFields are the Job spec fields tug implements, relative to the Job
// spec (the selector is always generated, as without manualSelector).
func jobSpecFields() []string {
	return join([]string{
		"completions",
		"parallelism",
		"backoffLimit",
		"activeDeadlineSeconds",
		"ttlSecondsAfterFinished",
		"template.metadata.labels",
		"template.metadata.annotations",
	}, prefixed("template.spec.", podSpecFields), prefixed("template.spec.", initContainerFields()))
}

// metadataFields are the object metadata fields users may set.
var metadataFields = []string{
	"apiVersion",
	"kind",
	"metadata.name",
	"metadata.namespace",
	"metadata.labels",
	"metadata.annotations",
}

// podSpecFields are the pod spec fields tug implements, relative to the pod
// spec.
var podSpecFields = []string{
	"containers[*].name",
	"containers[*].image",
	"containers[*].imagePullPolicy",
	"containers[*].command",
	"containers[*].args",
	"containers[*].workingDir",
	"containers[*].env[*].name",
	"containers[*].env[*].value",
	"containers[*].env[*].valueFrom.configMapKeyRef.name",
	"containers[*].env[*].valueFrom.configMapKeyRef.key",
	"containers[*].env[*].valueFrom.configMapKeyRef.optional",
	"containers[*].env[*].valueFrom.secretKeyRef.name",
	"containers[*].env[*].valueFrom.secretKeyRef.key",
	"containers[*].env[*].valueFrom.secretKeyRef.optional",
	"containers[*].env[*].valueFrom.fieldRef.fieldPath",
	"containers[*].env[*].valueFrom.fieldRef.apiVersion",
	"containers[*].envFrom[*].prefix",
	"containers[*].envFrom[*].configMapRef.name",
	"containers[*].envFrom[*].configMapRef.optional",
	"containers[*].envFrom[*].secretRef.name",
	"containers[*].envFrom[*].secretRef.optional",
	"containers[*].ports[*].name",
	"containers[*].ports[*].containerPort",
	"containers[*].ports[*].protocol",
	"containers[*].resources.requests.cpu",
	"containers[*].resources.requests.memory",
	"containers[*].resources.limits.cpu",
	"containers[*].resources.limits.memory",
	"containers[*].volumeMounts[*].name",
	"containers[*].volumeMounts[*].mountPath",
	"containers[*].volumeMounts[*].readOnly",
	"containers[*].volumeMounts[*].subPath",
	"containers[*].livenessProbe.exec.command",
	"containers[*].livenessProbe.httpGet.path",
	"containers[*].livenessProbe.httpGet.port",
	"containers[*].livenessProbe.httpGet.host",
	"containers[*].livenessProbe.httpGet.scheme",
	"containers[*].livenessProbe.httpGet.httpHeaders[*].name",
	"containers[*].livenessProbe.httpGet.httpHeaders[*].value",
	"containers[*].livenessProbe.tcpSocket.port",
	"containers[*].livenessProbe.tcpSocket.host",
	"containers[*].livenessProbe.initialDelaySeconds",
	"containers[*].livenessProbe.periodSeconds",
	"containers[*].livenessProbe.timeoutSeconds",
	"containers[*].livenessProbe.successThreshold",
	"containers[*].livenessProbe.failureThreshold",
	"containers[*].readinessProbe.exec.command",
	"containers[*].readinessProbe.httpGet.path",
	"containers[*].readinessProbe.httpGet.port",
	"containers[*].readinessProbe.httpGet.host",
	"containers[*].readinessProbe.httpGet.scheme",
	"containers[*].readinessProbe.httpGet.httpHeaders[*].name",
	"containers[*].readinessProbe.httpGet.httpHeaders[*].value",
	"containers[*].readinessProbe.tcpSocket.port",
	"containers[*].readinessProbe.tcpSocket.host",
	"containers[*].readinessProbe.initialDelaySeconds",
	"containers[*].readinessProbe.periodSeconds",
	"containers[*].readinessProbe.timeoutSeconds",
	"containers[*].readinessProbe.successThreshold",
	"containers[*].readinessProbe.failureThreshold",
	"containers[*].startupProbe.exec.command",
	"containers[*].startupProbe.httpGet.path",
	"containers[*].startupProbe.httpGet.port",
	"containers[*].startupProbe.httpGet.host",
	"containers[*].startupProbe.httpGet.scheme",
	"containers[*].startupProbe.httpGet.httpHeaders[*].name",
	"containers[*].startupProbe.httpGet.httpHeaders[*].value",
	"containers[*].startupProbe.tcpSocket.port",
	"containers[*].startupProbe.tcpSocket.host",
	"containers[*].startupProbe.initialDelaySeconds",
	"containers[*].startupProbe.periodSeconds",
	"containers[*].startupProbe.timeoutSeconds",
	"containers[*].startupProbe.successThreshold",
	"containers[*].startupProbe.failureThreshold",
	"containers[*].lifecycle.postStart.exec.command",
	"containers[*].lifecycle.postStart.httpGet.path",
	"containers[*].lifecycle.postStart.httpGet.port",
	"containers[*].lifecycle.postStart.httpGet.host",
	"containers[*].lifecycle.postStart.httpGet.scheme",
	"containers[*].lifecycle.postStart.httpGet.httpHeaders[*].name",
	"containers[*].lifecycle.postStart.httpGet.httpHeaders[*].value",
	"containers[*].lifecycle.preStop.exec.command",
	"containers[*].lifecycle.preStop.httpGet.path",
	"containers[*].lifecycle.preStop.httpGet.port",
	"containers[*].lifecycle.preStop.httpGet.host",
	"containers[*].lifecycle.preStop.httpGet.scheme",
	"containers[*].lifecycle.preStop.httpGet.httpHeaders[*].name",
	"containers[*].lifecycle.preStop.httpGet.httpHeaders[*].value",
	"volumes[*].name",
	"volumes[*].emptyDir.medium",
	"volumes[*].emptyDir.sizeLimit",
	"volumes[*].configMap.name",
	"volumes[*].configMap.items[*].key",
	"volumes[*].configMap.items[*].path",
	"volumes[*].configMap.items[*].mode",
	"volumes[*].configMap.defaultMode",
	"volumes[*].configMap.optional",
	"volumes[*].secret.secretName",
	"volumes[*].secret.items[*].key",
	"volumes[*].secret.items[*].path",
	"volumes[*].secret.items[*].mode",
	"volumes[*].secret.defaultMode",
	"volumes[*].secret.optional",
	"volumes[*].hostPath.path",
	"volumes[*].hostPath.type",
	"volumes[*].downwardAPI.defaultMode",
	"volumes[*].downwardAPI.items[*].path",
	"volumes[*].downwardAPI.items[*].mode",
	"volumes[*].downwardAPI.items[*].fieldRef.apiVersion",
	"volumes[*].downwardAPI.items[*].fieldRef.fieldPath",
	"volumes[*].projected.defaultMode",
	"volumes[*].projected.sources[*].configMap.name",
	"volumes[*].projected.sources[*].configMap.items[*].key",
	"volumes[*].projected.sources[*].configMap.items[*].path",
	"volumes[*].projected.sources[*].configMap.items[*].mode",
	"volumes[*].projected.sources[*].configMap.optional",
	"volumes[*].projected.sources[*].secret.name",
	"volumes[*].projected.sources[*].secret.items[*].key",
	"volumes[*].projected.sources[*].secret.items[*].path",
	"volumes[*].projected.sources[*].secret.items[*].mode",
	"volumes[*].projected.sources[*].secret.optional",
	"volumes[*].projected.sources[*].downwardAPI.items[*].path",
	"volumes[*].projected.sources[*].downwardAPI.items[*].mode",
	"volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef.apiVersion",
	"volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef.fieldPath",
	"containers[*].securityContext.runAsUser",
	"containers[*].securityContext.runAsGroup",
	"containers[*].securityContext.runAsNonRoot",
	"containers[*].securityContext.readOnlyRootFilesystem",
	"containers[*].securityContext.privileged",
	"containers[*].securityContext.capabilities.add",
	"containers[*].securityContext.capabilities.drop",
	"containers[*].securityContext.allowPrivilegeEscalation",
	"containers[*].securityContext.seccompProfile.type",
	"securityContext.runAsUser",
	"securityContext.runAsGroup",
	"securityContext.runAsNonRoot",
	"securityContext.fsGroup",
	"securityContext.supplementalGroups",
	"securityContext.seccompProfile.type",
	"restartPolicy",
	"terminationGracePeriodSeconds",
	"nodeSelector",
	"tolerations[*].key",
	"tolerations[*].operator",
	"tolerations[*].value",
	"tolerations[*].effect",
	"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
	"dnsPolicy",
	"dnsConfig.nameservers",
	"dnsConfig.searches",
	"dnsConfig.options[*].name",
	"dnsConfig.options[*].value",
	"volumes[*].persistentVolumeClaim.claimName",
	"volumes[*].persistentVolumeClaim.readOnly",
	"hostNetwork",
	"hostPID",
	"hostIPC",
	"securityContext.sysctls[*].name",
	"securityContext.sysctls[*].value",
	"containers[*].env[*].valueFrom.resourceFieldRef.containerName",
	"containers[*].env[*].valueFrom.resourceFieldRef.resource",
	"containers[*].env[*].valueFrom.resourceFieldRef.divisor",
	"containers[*].livenessProbe.grpc.port",
	"containers[*].livenessProbe.grpc.service",
	"containers[*].readinessProbe.grpc.port",
	"containers[*].readinessProbe.grpc.service",
	"containers[*].startupProbe.grpc.port",
	"containers[*].startupProbe.grpc.service",
	// Scheduling: see reconciler/scheduler_*.go.
	"affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].weight",
	"affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].preference",
	"affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].labelSelector",
	"affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].namespaces",
	"affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].namespaceSelector",
	"affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].topologyKey",
	"affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].weight",
	"affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.labelSelector",
	"affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.namespaces",
	"affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.namespaceSelector",
	"affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.topologyKey",
	"affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].labelSelector",
	"affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].namespaces",
	"affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].namespaceSelector",
	"affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].topologyKey",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].weight",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.labelSelector",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.namespaces",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.namespaceSelector",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm.topologyKey",
	"topologySpreadConstraints[*].maxSkew",
	"topologySpreadConstraints[*].topologyKey",
	"topologySpreadConstraints[*].whenUnsatisfiable",
	"topologySpreadConstraints[*].labelSelector",
	"topologySpreadConstraints[*].minDomains",
	"topologySpreadConstraints[*].nodeAffinityPolicy",
	"topologySpreadConstraints[*].nodeTaintsPolicy",
	"topologySpreadConstraints[*].matchLabelKeys",
	"containers[*].resources.requests.ephemeral-storage",
	// Image pulls: nodeagent/pull.go (dockerconfigjson and dockercfg Secrets).
	"imagePullSecrets[*].name",
	// downwardAPI volume items from a container's resources
	// (nodeagent/volume/render.go; containerName required in volumes).
	"volumes[*].downwardAPI.items[*].resourceFieldRef.containerName",
	"volumes[*].downwardAPI.items[*].resourceFieldRef.resource",
	"volumes[*].downwardAPI.items[*].resourceFieldRef.divisor",
	"volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.containerName",
	"volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.resource",
	"volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.divisor",
	// NoExecute eviction delay: reconciler/node.go evictionAt (validated
	// in validate_sched.go: effect must be NoExecute).
	"tolerations[*].tolerationSeconds",
}

// initContainerFields are the init container fields tug implements: those
// of a container, without probes and lifecycle hooks (Kubernetes allows none
// on init containers;
// sidecar init containers, with restartPolicy, are not supported).
func initContainerFields() []string {
	var out []string
	for _, f := range podSpecFields {
		if rest, ok := strings.CutPrefix(f, "containers[*]."); ok && !strings.Contains(rest, "Probe.") && !strings.HasPrefix(rest, "lifecycle.") {
			out = append(out, "initContainers[*]."+rest)
		}
	}
	return out
}

// supportedFieldRefs are the pod fields an env var may take its value from
// (env[*].valueFrom.fieldRef.fieldPath); "metadata.labels['k']" and
// "metadata.annotations['k']" are supported for any key k.
var supportedFieldRefs = []string{
	"metadata.name",
	"metadata.namespace",
	"metadata.uid",
	"spec.nodeName",
	"status.hostIP",
	"status.podIP",
}

// SupportedFieldRefs returns the fieldRef paths tug resolves for env vars,
// besides metadata.labels['key'] and metadata.annotations['key'].
func SupportedFieldRefs() []string { return slices.Clone(supportedFieldRefs) }

// IsSupportedFieldRef reports whether an env var's fieldRef.fieldPath is one
// tug resolves.
func IsSupportedFieldRef(path string) bool {
	if slices.Contains(supportedFieldRefs, path) {
		return true
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if key, ok := strings.CutPrefix(path, prefix); ok {
			key, ok = strings.CutSuffix(key, "']")
			return ok && key != "" && !strings.ContainsAny(key, "'[]")
		}
	}
	return false
}

// SupportedFields returns the allow-listed field paths of kind (nil for a
// kind that cannot be committed).
func SupportedFields(kind string) []string { return slices.Clone(supportedFields[kind]) }

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func prefixed(prefix string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = prefix + p
	}
	return out
}

// fieldTree is the allow-list of one kind as a tree of path segments; list
// elements are the segment "[*]".
type fieldTree struct {
	leaf     bool // the whole subtree is allowed
	children map[string]*fieldTree
}

func newFieldTree(paths []string) *fieldTree {
	root := &fieldTree{}
	for _, p := range paths {
		n := root
		for _, seg := range splitAllowPath(p) {
			if n.children == nil {
				n.children = map[string]*fieldTree{}
			}
			c := n.children[seg]
			if c == nil {
				c = &fieldTree{}
				n.children[seg] = c
			}
			n = c
		}
		n.leaf = true
	}
	return root
}

// splitAllowPath splits "a.b[*].c" into "a", "b", "[*]", "c".
func splitAllowPath(p string) []string {
	var out []string
	for _, seg := range strings.Split(p, ".") {
		for {
			name, rest, ok := strings.Cut(seg, "[*]")
			if name != "" {
				out = append(out, name)
			}
			if !ok {
				break
			}
			out = append(out, "[*]")
			seg = rest
		}
	}
	return out
}

func (t *fieldTree) child(seg string) *fieldTree {
	if t == nil || t.leaf {
		return t
	}
	return t.children[seg]
}

// policyRuleFields are the fields of a NetworkPolicy ingress (peers "from")
// or egress (peers "to") rule tug enforces.
func policyRuleFields(peers string) []string {
	return []string{
		peers + "[*].podSelector",
		peers + "[*].namespaceSelector",
		peers + "[*].ipBlock.cidr",
		peers + "[*].ipBlock.except",
		"ports[*].protocol",
		"ports[*].port",
		"ports[*].endPort",
	}
}
