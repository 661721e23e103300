package printers

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPrintBatch(t *testing.T) {
	three := int32(3)
	started := ago(2 * time.Hour)
	done := ago(2*time.Hour - 90*time.Second)
	tests := []struct {
		name string
		kind string
		objs []manifest.Object
		opts Options
		want string
	}{{
		name: "jobs",
		kind: manifest.KindJob,
		objs: []manifest.Object{
			&batchv1.Job{ObjectMeta: objMeta("default", "migrate", 3*time.Hour),
				Spec: batchv1.JobSpec{Completions: &three},
				Status: batchv1.JobStatus{Succeeded: 3, StartTime: &started, CompletionTime: &done,
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}},
			&batchv1.Job{ObjectMeta: objMeta("default", "queue", 10*time.Minute),
				Spec:   batchv1.JobSpec{Parallelism: &three},
				Status: batchv1.JobStatus{Active: 3, StartTime: ptr(ago(10 * time.Minute))}},
			&batchv1.Job{ObjectMeta: objMeta("default", "broken", time.Minute),
				Status: batchv1.JobStatus{Failed: 7,
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}},
		},
		want: `NAME      STATUS     COMPLETIONS   DURATION   AGE
migrate   Complete   3/3           90s        3h
queue     Running    0/1 of 3      10m        10m
broken    Failed     0/1                      60s
`,
	}, {
		name: "jobs wide",
		kind: manifest.KindJob,
		objs: []manifest.Object{&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "migrate", UID: "u1",
			CreationTimestamp: ago(time.Hour)},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers("app")}}}}},
		opts: Options{Output: OutputWide},
		want: `NAME      STATUS    COMPLETIONS   DURATION   AGE   CONTAINERS   IMAGES          SELECTOR
migrate   Running   0/1                      60m   app          example/app:1   batch.kubernetes.io/controller-uid=u1
`,
	}, {
		name: "cronjobs",
		kind: manifest.KindCronJob,
		objs: []manifest.Object{
			&batchv1.CronJob{ObjectMeta: objMeta("default", "report", 26*time.Hour),
				Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: ptr("Europe/Paris")},
				Status: batchv1.CronJobStatus{LastScheduleTime: ptr(ago(3 * time.Minute)),
					Active: []corev1.ObjectReference{{Name: "report-1"}}}},
			&batchv1.CronJob{ObjectMeta: objMeta("default", "nightly", time.Hour),
				Spec: batchv1.CronJobSpec{Schedule: "@daily", Suspend: ptr(true)}},
		},
		want: `NAME      SCHEDULE      TIMEZONE       SUSPEND   ACTIVE   LAST SCHEDULE   AGE
report    */5 * * * *   Europe/Paris   False     1        3m              26h
nightly   @daily        <none>         True      0        <none>          60m
`,
	}, {
		name: "daemonsets",
		kind: manifest.KindDaemonSet,
		objs: []manifest.Object{
			&appsv1.DaemonSet{ObjectMeta: objMeta("kube-system", "agent", 5*time.Hour),
				Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"role": "edge"}}}},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
					UpdatedNumberScheduled: 1, NumberAvailable: 2}},
			&appsv1.DaemonSet{ObjectMeta: objMeta("kube-system", "logs", time.Hour)},
		},
		want: `NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE
agent   3         3         2       1            2           role=edge       5h
logs    0         0         0       0            0           <none>          60m
`,
	}, {
		name: "statefulsets",
		kind: manifest.KindStatefulSet,
		objs: []manifest.Object{
			&appsv1.StatefulSet{ObjectMeta: objMeta("default", "db", 2*time.Hour),
				Spec: appsv1.StatefulSetSpec{Replicas: &three}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 2}},
		},
		want: `NAME   READY   AGE
db     2/3     120m
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = now
			var buf bytes.Buffer
			if err := PrintList(&buf, tt.kind, tt.objs, tt.opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
