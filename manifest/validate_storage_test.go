package manifest

import (
	"strings"
	"testing"
)

const okStorage = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
  annotations: {storageclass.kubernetes.io/is-default-class: "false"}
provisioner: tug.dev/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-host
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Recycle
  storageClassName: manual
  hostPath: {path: /srv/data, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-local
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  volumeMode: Filesystem
  local: {path: /mnt/disk1}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [node-1]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources:
    requests: {storage: 500Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: ignored
`

func TestValidateStorage(t *testing.T) {
	valid := strings.SplitN(okStorage, "\n---\napiVersion: v1\nkind: Pod", 2)[0]
	pv := "PersistentVolume pv-host"
	pvc := "PersistentVolumeClaim default/data"
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{{
		name: "valid",
		yaml: valid,
	}, {
		name: "Block volume mode refused by name",
		yaml: strings.Replace(valid, "  volumeMode: Filesystem\n", "  volumeMode: Block\n", 1),
		want: []wantErr{{File: "a.yaml", Line: 28, Object: "PersistentVolume pv-local", Field: "spec.volumeMode", Msg: "Block is not supported"}},
	}, {
		name: "local without node affinity",
		yaml: strings.Replace(valid, "  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [node-1]}\n", "", 1),
		want: []wantErr{{File: "a.yaml", Line: 25, Object: "PersistentVolume pv-local", Field: "spec.nodeAffinity.required", Msg: "needs nodeAffinity.required"}},
	}, {
		name: "PV capacity, access modes, reclaim policy, source",
		yaml: strings.NewReplacer(
			"  capacity: {storage: 1Gi}\n", "  capacity: {storage: 0}\n",
			"  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Recycle", "  accessModes: [ReadWriteSome]\n  persistentVolumeReclaimPolicy: Shred",
			"  hostPath: {path: /srv/data, type: DirectoryOrCreate}\n", "  hostPath: {path: srv/data, type: Socket}\n",
		).Replace(valid),
		want: []wantErr{
			{File: "a.yaml", Line: 15, Object: pv, Field: "spec.capacity.storage", Msg: "more than 0"},
			{File: "a.yaml", Line: 16, Object: pv, Field: "spec.accessModes[0]", Msg: "unknown access mode"},
			{File: "a.yaml", Line: 17, Object: pv, Field: "spec.persistentVolumeReclaimPolicy", Msg: "Retain, Delete or Recycle"},
			{File: "a.yaml", Line: 19, Object: pv, Field: "spec.hostPath.path", Msg: "absolute"},
			{File: "a.yaml", Line: 19, Object: pv, Field: "spec.hostPath.type", Msg: "DirectoryOrCreate, Directory"},
		},
	}, {
		name: "unsupported PV source refused by name",
		yaml: strings.Replace(valid, "  hostPath: {path: /srv/data, type: DirectoryOrCreate}\n", "  nfs: {server: nas, path: /x}\n", 1),
		want: []wantErr{{File: "a.yaml", Line: 19, Object: pv, Field: "spec.nfs", Msg: "not supported"}},
	}, {
		name: "PVC request, class, access modes",
		yaml: strings.Replace(valid, "  accessModes: [ReadWriteOnce]\n  storageClassName: manual\n  resources:\n    requests: {storage: 500Mi}",
			"  accessModes: [ReadWriteOncePod, ReadWriteOnce]\n  storageClassName: Manual_\n  resources:\n    requests: {}", 1),
		want: []wantErr{
			{File: "a.yaml", Line: 41, Object: pvc, Field: "spec.accessModes", Msg: "ReadWriteOncePod may not be combined"},
			{File: "a.yaml", Line: 42, Object: pvc, Field: "spec.storageClassName", Msg: "RFC 1123"},
			{File: "a.yaml", Line: 44, Object: pvc, Field: "spec.resources.requests.storage", Msg: "is required"},
		},
	}, {
		name: "StorageClass provisioner and binding mode",
		yaml: strings.NewReplacer(
			"provisioner: tug.dev/local-path\n", "provisioner: ebs.csi.aws.com\n",
			"reclaimPolicy: Delete\n", "reclaimPolicy: Recycle\n",
			"is-default-class: \"false\"", "is-default-class: \"yes\"",
		).Replace(valid),
		want: []wantErr{
			{File: "a.yaml", Line: 5, Object: "StorageClass fast", Field: "metadata.annotations.storageclass.kubernetes.io/is-default-class", Msg: `"true" or "false"`},
			{File: "a.yaml", Line: 6, Object: "StorageClass fast", Field: "provisioner", Msg: "not available in tug"},
			{File: "a.yaml", Line: 7, Object: "StorageClass fast", Field: "reclaimPolicy", Msg: "Retain or Delete"},
		},
	}, {
		name: "parameters refused by name",
		yaml: strings.Replace(valid, "volumeBindingMode: WaitForFirstConsumer\n", "volumeBindingMode: Immediate\nparameters: {nodePath: /x}\n", 1),
		want: []wantErr{{File: "a.yaml", Line: 9, Object: "StorageClass fast", Field: "parameters", Msg: "not supported"}},
	}, {
		name: "local-path needs WaitForFirstConsumer",
		yaml: strings.Replace(valid, "volumeBindingMode: WaitForFirstConsumer\n", "volumeBindingMode: Immediate\n", 1),
		want: []wantErr{{File: "a.yaml", Line: 8, Object: "StorageClass fast", Field: "volumeBindingMode", Msg: "use WaitForFirstConsumer"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeFile("a.yaml", []byte(tt.yaml))
			if err != nil {
				checkErrors(t, err, tt.want)
				return
			}
			checkErrors(t, Validate(objs), tt.want)
		})
	}
}

func TestValidateClaimVolumes(t *testing.T) {
	const sts = "StatefulSet default/db"
	withClaims := strings.Replace(okStatefulSet, "  serviceName: db\n", `  serviceName: db
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  volumeClaimTemplates:
  - metadata: {name: data, labels: {tier: db}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`, 1) + "        volumeMounts: [{name: data, mountPath: /data}]\n"
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{{
		name: "templates are volumes of the pod template",
		yaml: withClaims,
	}, {
		name: "template errors and retention policy",
		yaml: strings.NewReplacer(
			"whenScaled: Retain", "whenScaled: Keep",
			"resources: {requests: {storage: 1Gi}}", "resources: {requests: {storage: 1Gi}}\n      volumeMode: Block",
		).Replace(withClaims),
		want: []wantErr{
			{File: "a.yaml", Line: 8, Object: sts, Field: "spec.persistentVolumeClaimRetentionPolicy.whenScaled", Msg: "Retain or Delete"},
			{File: "a.yaml", Line: 14, Object: sts, Field: "spec.volumeClaimTemplates[0].spec.volumeMode", Msg: "Block is not supported"},
		},
	}, {
		name: "a mount of an unknown volume is still refused",
		yaml: strings.Replace(withClaims, "{name: data, mountPath: /data}", "{name: logs, mountPath: /data}", 1),
		want: []wantErr{{File: "a.yaml", Line: 27, Object: sts, Field: "spec.template.spec.containers[0].volumeMounts[0].name", Msg: `no volume named "logs"`}},
	}, {
		name: "persistentVolumeClaim pod volume",
		yaml: strings.Replace(okStatefulSet, "        image: busybox\n", `        image: busybox
        volumeMounts: [{name: shared, mountPath: /shared, readOnly: true}]
      volumes:
      - name: shared
        persistentVolumeClaim: {claimName: "", readOnly: true}
`, 1),
		want: []wantErr{{File: "a.yaml", Line: 24, Object: sts, Field: "spec.template.spec.volumes[0].persistentVolumeClaim.claimName", Msg: "claimName is required"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeFile("a.yaml", []byte(tt.yaml))
			if err != nil {
				checkErrors(t, err, tt.want)
				return
			}
			checkErrors(t, Validate(objs), tt.want)
		})
	}
}
