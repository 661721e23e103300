package manifest

import (
	"strings"
	"testing"
)

const okJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  completions: 3
  parallelism: 2
  backoffLimit: 4
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 100
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox
`

const okCronJob = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "*/5 * * * *"
  timeZone: Europe/Paris
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 60
  successfulJobsHistoryLimit: 2
  failedJobsHistoryLimit: 1
  suspend: false
  jobTemplate:
    spec:
      backoffLimit: 1
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox
`

func TestValidateBatch(t *testing.T) {
	const job, cj = "Job default/migrate", "CronJob default/report"
	tests := []struct {
		name  string
		files map[string]string
		want  []wantErr
	}{{
		name:  "valid",
		files: map[string]string{"a.yaml": okJob, "b.yaml": okCronJob},
	}, {
		name: "job counts and restart policy",
		files: map[string]string{"a.yaml": strings.NewReplacer(
			"completions: 3", "completions: -1",
			"activeDeadlineSeconds: 600", "activeDeadlineSeconds: 0",
			"restartPolicy: Never", "restartPolicy: Always").Replace(okJob)},
		want: []wantErr{
			{File: "a.yaml", Line: 6, Object: job, Field: "spec.completions", Msg: "must be 0 or more"},
			{File: "a.yaml", Line: 9, Object: job, Field: "spec.activeDeadlineSeconds", Msg: "more than 0"},
			{File: "a.yaml", Line: 13, Object: job, Field: "spec.template.spec.restartPolicy", Msg: "Never or OnFailure"},
		},
	}, {
		name:  "job restart policy is required",
		files: map[string]string{"a.yaml": strings.Replace(okJob, "      restartPolicy: Never\n", "", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 12, Object: job, Field: "spec.template.spec.restartPolicy", Msg: "required"}},
	}, {
		name:  "job selector is not supported",
		files: map[string]string{"a.yaml": strings.Replace(okJob, "  completions: 3\n", "  selector: {matchLabels: {a: b}}\n", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 6, Object: job, Field: "spec.selector", Msg: "not supported"}},
	}, {
		name: "cron schedule, zone and policy",
		files: map[string]string{"a.yaml": strings.NewReplacer(
			`"*/5 * * * *"`, `"61 * * * *"`,
			"Europe/Paris", "Mars/Olympus",
			"Forbid", "Sometimes").Replace(okCronJob)},
		want: []wantErr{
			{File: "a.yaml", Line: 6, Object: cj, Field: "spec.schedule", Msg: "invalid cron schedule"},
			{File: "a.yaml", Line: 7, Object: cj, Field: "spec.timeZone", Msg: "unknown time zone"},
			{File: "a.yaml", Line: 8, Object: cj, Field: "spec.concurrencyPolicy", Msg: "Allow, Forbid or Replace"},
		},
	}, {
		name:  "TZ in the schedule",
		files: map[string]string{"a.yaml": strings.Replace(okCronJob, `"*/5 * * * *"`, `"CRON_TZ=UTC 0 * * * *"`, 1)},
		want:  []wantErr{{File: "a.yaml", Line: 6, Object: cj, Field: "spec.schedule", Msg: "spec.timeZone"}},
	}, {
		name:  "cron job template restart policy",
		files: map[string]string{"a.yaml": strings.Replace(okCronJob, "OnFailure", "Always", 1)},
		want:  []wantErr{{File: "a.yaml", Line: 18, Object: cj, Field: "spec.jobTemplate.spec.template.spec.restartPolicy", Msg: "Never or OnFailure"}},
	}, {
		name: "missing config map in a job",
		files: map[string]string{"a.yaml": strings.Replace(okJob, "        image: busybox\n",
			"        image: busybox\n        envFrom:\n        - configMapRef: {name: nope}\n", 1)},
		want: []wantErr{{File: "a.yaml", Line: 18, Object: job, Field: "spec.template.spec.containers[0].envFrom[0].configMapRef", Msg: "does not exist"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []Decoded
			for _, name := range sortedKeys(tt.files) {
				objs, err := DecodeFile(name, []byte(tt.files[name]))
				if err != nil {
					checkErrors(t, err, tt.want)
					return
				}
				all = append(all, objs...)
			}
			checkErrors(t, Validate(all), tt.want)
		})
	}
}

const okDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: agent}
    spec:
      nodeSelector: {role: edge}
      tolerations:
      - {key: noisy, operator: Exists}
      containers:
      - name: agent
        image: busybox
`

func TestValidateDaemonSet(t *testing.T) {
	const ds = "DaemonSet default/agent"
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{{
		name: "valid",
		yaml: okDaemonSet,
	}, {
		name: "zero maxUnavailable, restart policy, selector",
		yaml: strings.NewReplacer("maxUnavailable: 25%", "maxUnavailable: 0",
			"      containers:\n", "      restartPolicy: Never\n      containers:\n",
			"matchLabels: {app: agent}", "matchLabels: {app: other}").Replace(okDaemonSet),
		want: []wantErr{
			{File: "a.yaml", Line: 6, Object: ds, Field: "spec.selector", Msg: "does not match"},
			{File: "a.yaml", Line: 10, Object: ds, Field: "spec.updateStrategy.rollingUpdate.maxUnavailable", Msg: "more than 0"},
			{File: "a.yaml", Line: 18, Object: ds, Field: "spec.template.spec.restartPolicy", Msg: "must be Always"},
		},
	}, {
		name: "OnDelete with rollingUpdate",
		yaml: strings.Replace(okDaemonSet, "type: RollingUpdate", "type: OnDelete", 1),
		want: []wantErr{{File: "a.yaml", Line: 10, Object: ds, Field: "spec.updateStrategy.rollingUpdate", Msg: "OnDelete"}},
	}, {
		name: "maxSurge is not supported",
		yaml: strings.Replace(okDaemonSet, "{maxUnavailable: 25%}", "{maxSurge: 1}", 1),
		want: []wantErr{{File: "a.yaml", Line: 10, Object: ds, Field: "spec.updateStrategy.rollingUpdate.maxSurge", Msg: "not supported"}},
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

const okStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 3
  serviceName: db
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {partition: 1}
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: busybox
`

func TestValidateStatefulSet(t *testing.T) {
	const sts = "StatefulSet default/db"
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{{
		name: "valid",
		yaml: okStatefulSet,
	}, {
		name: "policy, partition, service name",
		yaml: strings.NewReplacer("Parallel", "Random", "partition: 1", "partition: -1", "serviceName: db", "serviceName: DB_1").Replace(okStatefulSet),
		want: []wantErr{
			{File: "a.yaml", Line: 7, Object: sts, Field: "spec.serviceName", Msg: "RFC 1123"},
			{File: "a.yaml", Line: 8, Object: sts, Field: "spec.podManagementPolicy", Msg: "OrderedReady or Parallel"},
			{File: "a.yaml", Line: 11, Object: sts, Field: "spec.updateStrategy.rollingUpdate.partition", Msg: "0 or more"},
		},
	}, {
		name: "volumeClaimTemplates: unsupported fields are refused by name",
		yaml: strings.Replace(okStatefulSet, "  serviceName: db\n", "  serviceName: db\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      dataSource: {kind: X, name: snap}\n", 1),
		want: []wantErr{{File: "a.yaml", Line: 11, Object: sts, Field: "spec.volumeClaimTemplates[0].spec.dataSource", Msg: "not supported"}},
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
