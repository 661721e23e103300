package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func quota(name string, hard corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("q-" + name), ResourceVersion: "1"},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}}
}

func admissionPod(containers ...corev1.ResourceRequirements) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-abc-x1y2z", GenerateName: "web-abc-", Namespace: "default"}}
	for i, r := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: []string{"app", "side"}[i], Resources: r})
	}
	return p
}

func TestAdmitPod(t *testing.T) {
	req := func(kv ...string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: rl(kv...)}
	}
	both := func(r, l corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: r, Limits: l}
	}
	running := func(r corev1.ResourceRequirements) *corev1.Pod {
		p := admissionPod(r)
		p.Status.Phase = corev1.PodRunning
		return p
	}
	lr := func(items ...corev1.LimitRangeItem) *corev1.LimitRange {
		return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"}, Spec: corev1.LimitRangeSpec{Limits: items}}
	}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		quotas []*corev1.ResourceQuota
		limits []*corev1.LimitRange
		used   []*corev1.Pod // already running in the namespace
		want   string
		// wantResources is the first container's resources after defaults.
		wantResources *corev1.ResourceRequirements
	}{
		{
			name:   "within quota",
			pod:    admissionPod(req("cpu", "500m")),
			quotas: []*corev1.ResourceQuota{quota("compute", rl("requests.cpu", "1"))},
			used:   []*corev1.Pod{running(req("cpu", "500m"))},
		},
		{
			name:   "over requests.cpu: Kubernetes' message",
			pod:    admissionPod(req("cpu", "500m")),
			quotas: []*corev1.ResourceQuota{quota("compute", rl("requests.cpu", "1"))},
			used:   []*corev1.Pod{running(req("cpu", "600m")), running(req("cpu", "400m"))},
			want:   `pods "web-abc-" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=1, limited: requests.cpu=1`,
		},
		{
			name:   "over pods, only the exceeded names listed",
			pod:    admissionPod(req("cpu", "100m")),
			quotas: []*corev1.ResourceQuota{quota("pods", rl("pods", "1", "requests.cpu", "4"))},
			used:   []*corev1.Pod{running(req("cpu", "100m"))},
			want:   `pods "web-abc-" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1`,
		},
		{
			name:   "memory sums across containers, cpu alias",
			pod:    admissionPod(req("memory", "600Mi", "cpu", "1"), req("memory", "600Mi", "cpu", "1")),
			quotas: []*corev1.ResourceQuota{quota("mem", rl("memory", "1Gi", "cpu", "4"))},
			want:   `pods "web-abc-" is forbidden: exceeded quota: mem, requested: memory=1200Mi, used: memory=0, limited: memory=1Gi`,
		},
		{
			name:   "finished and past-grace pods do not count",
			pod:    admissionPod(req("cpu", "1")),
			quotas: []*corev1.ResourceQuota{quota("compute", rl("requests.cpu", "1", "count/pods", "1"))},
			used: func() []*corev1.Pod {
				done := running(req("cpu", "1"))
				done.Status.Phase = corev1.PodSucceeded
				gone := running(req("cpu", "1"))
				gone.DeletionTimestamp = &metav1.Time{Time: t0.Add(-time.Minute)}
				gone.DeletionGracePeriodSeconds = new(int64)
				return []*corev1.Pod{done, gone}
			}(),
		},
		{
			name:   "a quota on limits needs every container to set them",
			pod:    admissionPod(req("cpu", "100m"), req("cpu", "100m")),
			quotas: []*corev1.ResourceQuota{quota("compute", rl("limits.cpu", "2", "limits.memory", "1Gi"))},
			want:   `pods "web-abc-" is forbidden: failed quota: compute: must specify limits.cpu for: app,side; limits.memory for: app,side`,
		},
		{
			name: "LimitRange defaults filled in before the quota",
			pod:  admissionPod(corev1.ResourceRequirements{}),
			limits: []*corev1.LimitRange{lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
				Default: rl("cpu", "500m", "memory", "256Mi"), DefaultRequest: rl("cpu", "250m")})},
			quotas:        []*corev1.ResourceQuota{quota("compute", rl("requests.cpu", "1", "limits.memory", "1Gi", "requests.memory", "1Gi"))},
			wantResources: &corev1.ResourceRequirements{Requests: rl("cpu", "250m", "memory", "256Mi"), Limits: rl("cpu", "500m", "memory", "256Mi")},
		},
		{
			name:          "default limit from max, request from the set limit",
			pod:           admissionPod(corev1.ResourceRequirements{Limits: rl("memory", "128Mi")}),
			limits:        []*corev1.LimitRange{lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "2", "memory", "1Gi"), Min: rl("cpu", "10m")})},
			wantResources: &corev1.ResourceRequirements{Requests: rl("cpu", "2", "memory", "128Mi"), Limits: rl("cpu", "2", "memory", "128Mi")},
		},
		{
			name:   "over LimitRange max",
			pod:    admissionPod(both(rl("cpu", "1"), rl("cpu", "2"))),
			limits: []*corev1.LimitRange{lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1")})},
			want:   `pods "web-abc-" is forbidden: maximum cpu usage per Container is 1, but limit is 2`,
		},
		{
			name: "under min and over the ratio: both reasons",
			pod:  admissionPod(both(rl("memory", "10Mi"), rl("memory", "100Mi"))),
			limits: []*corev1.LimitRange{lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
				Min: rl("memory", "50Mi"), MaxLimitRequestRatio: rl("memory", "2")})},
			want: `pods "web-abc-" is forbidden: [minimum memory usage per Container is 50Mi, but request is 10Mi, memory max limit to request ratio per Container is 2, but provided ratio is 10.000000]`,
		},
		{
			name:   "Pod max on the sum of containers",
			pod:    admissionPod(both(rl("cpu", "1"), rl("cpu", "1")), both(rl("cpu", "1"), rl("cpu", "1"))),
			limits: []*corev1.LimitRange{lr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "1500m")})},
			want:   `pods "web-abc-" is forbidden: maximum cpu usage per Pod is 1500m, but limit is 2`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{ResourceQuotas: tt.quotas, LimitRanges: tt.limits, Pods: tt.used}
			quotas := quotasByNamespace(s, nil, t0)
			got := admitResources(tt.pod, limitsByNamespace(tt.limits)["default"], quotas["default"])
			if got != tt.want {
				t.Errorf("admitResources:\n got %s\nwant %s", got, tt.want)
			}
			if tt.wantResources != nil {
				if diff := cmp.Diff(*tt.wantResources, tt.pod.Spec.Containers[0].Resources, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
					t.Errorf("resources after defaults (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// A namespace with a quota of one pod and a Deployment of two replicas: one
// pod is created, the ReplicaSet gets a FailedCreate event and a
// ReplicaFailure condition, the quota's status shows the use, and a pass
// with nothing new to do writes nothing more.
func TestPlanQuotaRefusesPods(t *testing.T) {
	ids := &seqIDs{}
	q := quota("compute", rl("pods", "1", "requests.cpu", "1"))
	s := Snapshot{
		Deployments:    []*appsv1.Deployment{deployment("web", 2, "img:1")},
		ConfigMaps:     []*corev1.ConfigMap{configMap("one")},
		Nodes:          []*corev1.Node{readyNode("n1", "2")},
		ResourceQuotas: []*corev1.ResourceQuota{q},
	}
	var events []*corev1.Event
	for range 10 {
		w := Plan(s, t0, ids, FitScheduler{})
		for _, e := range w.Events {
			if e.Reason == ReasonFailedCreate {
				events = append(events, e)
			}
		}
		if w.Empty() {
			break
		}
		s = applyWrites(s, w)
	}
	if len(s.Pods) != 1 {
		t.Fatalf("pods %v; want 1", podNames(s))
	}
	var rs *appsv1.ReplicaSet
	for _, r := range s.ReplicaSets {
		if ptr := r.Spec.Replicas; ptr != nil && *ptr == 2 {
			rs = r
		}
	}
	if rs == nil {
		t.Fatalf("no ReplicaSet of 2 among %d", len(s.ReplicaSets))
	}
	wantMsg := `pods "` + rs.Name + `-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1`
	cond := replicaFailure(rs)
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != ReasonFailedCreate || cond.Message != wantMsg {
		t.Errorf("ReplicaFailure condition %+v; want FailedCreate %q", cond, wantMsg)
	}
	// The Deployment carries it too, as Kubernetes' deployment controller
	// does.
	if dc := deploymentCondition(s.Deployments[0].Status.Conditions, appsv1.DeploymentReplicaFailure); dc == nil ||
		dc.Status != corev1.ConditionTrue || dc.Reason != ReasonFailedCreate || dc.Message != wantMsg {
		t.Errorf("Deployment ReplicaFailure condition %+v; want FailedCreate %q", dc, wantMsg)
	}
	if len(events) == 0 {
		t.Fatal("no events")
	}
	ev := events[0]
	if ev.Type != corev1.EventTypeWarning || ev.Reason != ReasonFailedCreate || ev.Message != "Error creating: "+wantMsg ||
		ev.InvolvedObject.Kind != manifest.KindReplicaSet || ev.InvolvedObject.Name != rs.Name {
		t.Errorf("event %s %s %s on %s/%s", ev.Type, ev.Reason, ev.Message, ev.InvolvedObject.Kind, ev.InvolvedObject.Name)
	}
	for _, e := range events {
		if e.Name != ev.Name {
			t.Errorf("event %s differs from %s: the same refusal must aggregate", e.Name, ev.Name)
		}
	}
	used := s.ResourceQuotas[0].Status.Used
	if p, c := used[corev1.ResourcePods], used[corev1.ResourceRequestsCPU]; p.String() != "1" || c.String() != "100m" {
		t.Errorf("quota used %v; want pods=1, requests.cpu=100m", used)
	}
	// Raising the quota lets the second pod in and clears the condition.
	raised := s.ResourceQuotas[0].DeepCopy()
	raised.Spec.Hard = rl("pods", "2", "requests.cpu", "1")
	s.ResourceQuotas[0] = raised
	s = converge(t, s, ids)
	if len(s.Pods) != 2 {
		t.Fatalf("after raising the quota: pods %v; want 2", podNames(s))
	}
	for _, r := range s.ReplicaSets {
		if c := replicaFailure(r); c != nil {
			t.Errorf("ReplicaSet %s keeps %+v", r.Name, c)
		}
	}
	if dc := deploymentCondition(s.Deployments[0].Status.Conditions, appsv1.DeploymentReplicaFailure); dc != nil {
		t.Errorf("Deployment keeps %+v", dc)
	}
	if u := s.ResourceQuotas[0].Status.Used[corev1.ResourcePods]; u.String() != "2" {
		t.Errorf("quota used pods %s; want 2", u.String())
	}
}

func TestQuotaErrors(t *testing.T) {
	src := func(o manifest.Object, at string) manifest.Object {
		o.SetAnnotations(map[string]string{manifest.SourceAnnotation: at})
		return o
	}
	svc := func(name string) manifest.Object {
		return src(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}, "svc.yaml:"+name)
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "objects", Namespace: "shop"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("services", "2", "count/deployments.apps", "5")}}
	objs := []manifest.Object{svc("c"), svc("a"), svc("b"), q,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "other"}}}
	got := QuotaErrors(objs)
	want := []string{`svc.yaml:c: Service shop/c: services "c" is forbidden: exceeded quota: objects, requested: services=1, used: services=2, limited: services=2; raise the quota or remove objects`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if got := QuotaErrors(objs[1:]); len(got) != 0 {
		t.Errorf("two services under a quota of 2: %v", got)
	}
	// The revision planner refuses the commit, naming the quota.
	p := PlanRevision("abc", objs, nil)
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0], "exceeded quota: objects") || len(p.Puts) != 0 {
		t.Errorf("revision errors %v, %d puts", p.Errors, len(p.Puts))
	}
}

// A quota's status counts the objects of its namespace by their quota
// names.
func TestQuotaStatusCountsObjects(t *testing.T) {
	q := quota("objects", rl("services", "5", "count/deployments.apps", "5", "configmaps", "5", "count/resourcequotas", "2"))
	other := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "other"}}
	s := Snapshot{
		Deployments:    []*appsv1.Deployment{deployment("a", 0, "img:1"), deployment("b", 0, "img:1")},
		Services:       []*corev1.Service{service("a", "10.43.1.1"), other},
		ConfigMaps:     []*corev1.ConfigMap{configMap("x")},
		ResourceQuotas: []*corev1.ResourceQuota{q},
	}
	w := Plan(s, t0, &seqIDs{}, FitScheduler{})
	var got *corev1.ResourceQuota
	for _, o := range w.Puts {
		if u, ok := o.(*corev1.ResourceQuota); ok {
			got = u
		}
	}
	if got == nil {
		t.Fatal("quota status not written")
	}
	want := map[string]string{"services": "1", "count/deployments.apps": "2", "configmaps": "1", "count/resourcequotas": "1"}
	for name, v := range want {
		if u := got.Status.Used[corev1.ResourceName(name)]; u.String() != v {
			t.Errorf("used %s = %s, want %s", name, u.String(), v)
		}
	}
	if !resourceListsEqual(got.Status.Hard, q.Spec.Hard) {
		t.Errorf("status.hard %v, want %v", got.Status.Hard, q.Spec.Hard)
	}
}
