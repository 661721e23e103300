package health

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-x" + name), Generation: 1,
		Annotations: map[string]string{manifest.SourceAnnotation: name + ".yaml:1"}}
}

func deploy(replicas, updated, available, total int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: total, UpdatedReplicas: updated, AvailableReplicas: available, Conditions: conds}}
}

func TestOf(t *testing.T) {
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-abc" has timed out progressing.`}
	paused := deploy(2, 2, 2, 2)
	paused.Spec.Paused = true
	stale := deploy(2, 2, 2, 2)
	stale.Generation = 2
	rs := func(failure bool) *appsv1.ReplicaSet {
		r := &appsv1.ReplicaSet{ObjectMeta: meta("web-abc"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.ReplicaSetStatus{ObservedGeneration: 1, AvailableReplicas: 1}}
		if failure {
			r.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
				Reason: "FailedCreate", Message: `pods "web-abc-" is forbidden: exceeded quota: compute`}}
		}
		return r
	}
	sts := &appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 1}}
	ds := &appsv1.DaemonSet{ObjectMeta: meta("agent"), Status: appsv1.DaemonSetStatus{ObservedGeneration: 1,
		DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}}
	failedJob := &batchv1.Job{ObjectMeta: meta("migrate"), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{
		Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}}
	doneJob := &batchv1.Job{ObjectMeta: meta("seed"), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	cj := &batchv1.CronJob{ObjectMeta: meta("nightly"), Spec: batchv1.CronJobSpec{Suspend: ptr.To(true)}}
	crash := &corev1.Pod{ObjectMeta: meta("p"), Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}}}}}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: meta("data"), Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	svc := &corev1.Service{ObjectMeta: meta("web")}

	tests := []struct {
		name string
		objs []manifest.Object // the first is judged
		want Result
	}{
		{"deployment complete", []manifest.Object{deploy(2, 2, 2, 2)}, Result{Status: Healthy}},
		{"deployment rolling", []manifest.Object{deploy(2, 1, 1, 2)}, Result{Status: Progressing,
			Message: "Waiting for rollout to finish: 1 out of 2 new replicas have been updated..."}},
		{"deployment old replicas left", []manifest.Object{deploy(2, 2, 2, 3)}, Result{Status: Progressing,
			Message: "Waiting for rollout to finish: 1 old replicas are pending termination..."}},
		{"deployment waiting for availability", []manifest.Object{deploy(2, 2, 1, 2)}, Result{Status: Progressing,
			Message: "Waiting for rollout to finish: 1 of 2 updated replicas are available..."}},
		{"deployment past its deadline", []manifest.Object{deploy(2, 1, 1, 2, deadline)}, Result{Status: Degraded,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-abc" has timed out progressing.`}},
		{"deployment paused", []manifest.Object{paused}, Result{Status: Suspended, Reason: "Paused", Message: "Deployment is paused"}},
		{"deployment generation not observed", []manifest.Object{stale}, Result{Status: Progressing,
			Message: "Waiting for rollout to finish: observed deployment generation less than desired generation"}},
		{"deployment held back by a quota", []manifest.Object{deploy(2, 1, 1, 1), func() manifest.Object {
			r := rs(true)
			r.OwnerReferences = []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "uid-xweb", Controller: ptr.To(true)}}
			return r
		}()}, Result{Status: Progressing, Reason: "FailedCreate", Message: `pods "web-abc-" is forbidden: exceeded quota: compute`}},
		{"replicaset failing", []manifest.Object{rs(true)}, Result{Status: Degraded, Reason: "FailedCreate", Message: `pods "web-abc-" is forbidden: exceeded quota: compute`}},
		{"replicaset waiting", []manifest.Object{rs(false)}, Result{Status: Progressing, Message: "Waiting for rollout to finish: 1 out of 2 new replicas are available..."}},
		{"statefulset", []manifest.Object{sts}, Result{Status: Progressing, Message: "Waiting for 2 pods to be ready..."}},
		{"daemonset", []manifest.Object{ds}, Result{Status: Healthy}},
		{"job failed", []manifest.Object{failedJob}, Result{Status: Degraded, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}},
		{"job complete", []manifest.Object{doneJob}, Result{Status: Healthy}},
		{"cronjob suspended", []manifest.Object{cj}, Result{Status: Suspended, Reason: "Suspended", Message: "CronJob is suspended"}},
		{"pod crash looping", []manifest.Object{crash}, Result{Status: Degraded, Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
		{"claim pending", []manifest.Object{claim}, Result{Status: Progressing, Reason: "Pending", Message: "Waiting for the claim to be bound"}},
		{"service", []manifest.Object{svc}, Result{Status: Healthy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newIndex(tt.objs).of(tt.objs[0])
			want := tt.want
			want.Kind, want.Namespace, want.Name = manifest.KindOf(tt.objs[0]), "shop", tt.objs[0].GetName()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("health (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "timed out"}
	notGit := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-abc-1", Namespace: "shop"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	cm := &corev1.ConfigMap{ObjectMeta: meta("cfg")}
	tests := []struct {
		name       string
		objs       []manifest.Object
		desired    []manifest.Key
		want       Status
		unhealthy  []string
		wantCounts map[Status]int
	}{
		{name: "nothing", want: Healthy, wantCounts: map[Status]int{}},
		{name: "all healthy; objects not from Git are not judged", objs: []manifest.Object{cm, deploy(1, 1, 1, 1), notGit}, want: Healthy,
			wantCounts: map[Status]int{Healthy: 2}},
		{name: "the worst wins", objs: []manifest.Object{cm, deploy(2, 1, 1, 2, deadline)}, want: Degraded,
			unhealthy: []string{"Deployment/shop/web"}, wantCounts: map[Status]int{Healthy: 1, Degraded: 1}},
		{name: "missing", objs: []manifest.Object{deploy(2, 1, 1, 2)}, desired: []manifest.Key{{Kind: "ConfigMap", Namespace: "shop", Name: "cfg"}, {Kind: "Deployment", Namespace: "shop", Name: "web"}},
			want: Missing, unhealthy: []string{"ConfigMap/shop/cfg", "Deployment/shop/web"}, wantCounts: map[Status]int{Missing: 1, Progressing: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Evaluate(tt.objs, tt.desired)
			if s.Status != tt.want {
				t.Errorf("status %s, want %s", s.Status, tt.want)
			}
			var un []string
			for _, r := range s.Unhealthy() {
				un = append(un, r.Key().String())
			}
			if diff := cmp.Diff(tt.unhealthy, un); diff != "" {
				t.Errorf("unhealthy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCounts, s.Counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}
