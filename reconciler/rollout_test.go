package reconciler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// sim plays the store and a node agent around Plan: writes are applied to
// the snapshot, bound pods become ready when the agent is told so, and
// pods being deleted go away when the agent finishes them.
type sim struct {
	t   testing.TB
	s   Snapshot
	ids *seqIDs
	now time.Time
	w   Writes // the last pass's writes
}

func newSim(t testing.TB, d *appsv1.Deployment) *sim {
	d.Spec.Template.Spec.Containers[0].Env = nil // no ConfigMap needed
	return &sim{t: t, ids: &seqIDs{}, now: t0, s: Snapshot{
		Deployments: []*appsv1.Deployment{d},
		Nodes:       []*corev1.Node{readyNode("n1", "100")},
	}}
}

func (m *sim) pass() {
	m.w = Plan(m.s, m.now, m.ids, FitScheduler{})
	m.s = applyWrites(m.s, m.w)
}

// agent makes bound pods ready (each with probability ready) and finishes
// deletions (each with probability finish).
func (m *sim) agent(rng *rand.Rand, ready, finish float64) {
	var kept []*corev1.Pod
	for _, p := range m.s.Pods {
		if p.DeletionTimestamp != nil {
			if rng.Float64() < finish {
				continue
			}
		} else if p.Spec.NodeName != "" && !podReady(p) && rng.Float64() < ready {
			p = p.DeepCopy()
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(m.now)})
		}
		kept = append(kept, p)
	}
	m.s.Pods = kept
}

// settle runs passes with a fully cooperative agent until nothing changes.
func (m *sim) settle() {
	m.t.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 50; i++ {
		before := len(m.s.Pods)
		m.now = m.now.Add(time.Second)
		m.pass()
		readyBefore := countReady(m.s.Pods)
		m.agent(rng, 1, 1)
		if m.w.Empty() && len(m.s.Pods) == before && countReady(m.s.Pods) == readyBefore {
			return
		}
	}
	m.t.Fatalf("no convergence after 50 passes")
}

func (m *sim) deployment() *appsv1.Deployment { return m.s.Deployments[0] }

func (m *sim) setDeployment(fn func(d *appsv1.Deployment)) {
	d := m.deployment().DeepCopy()
	fn(d)
	d.Generation++
	m.s.Deployments = []*appsv1.Deployment{d}
}

func (m *sim) rsReplicas() map[string]int32 {
	out := map[string]int32{}
	for _, rs := range m.s.ReplicaSets {
		out[rs.Spec.Template.Spec.Containers[0].Image] = ptr.Deref(rs.Spec.Replicas, 0)
	}
	return out
}

// counts returns the deployment's live pods and its available ones.
func (m *sim) counts() (live, available int) {
	for _, p := range livePods(m.s.Pods) {
		live++
		if podReady(p) {
			available++
		}
	}
	return live, available
}

func (m *sim) condition(t appsv1.DeploymentConditionType) appsv1.DeploymentCondition {
	if c := deploymentCondition(m.deployment().Status.Conditions, t); c != nil {
		return *c
	}
	return appsv1.DeploymentCondition{}
}

func rolling(surge, unavailable intstr.IntOrString) appsv1.DeploymentStrategy {
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		replicas           int32
		strategy           appsv1.DeploymentStrategy
		surge, unavailable int32
	}{
		{10, appsv1.DeploymentStrategy{}, 3, 2}, // 25% each: 2.5 up, 2.5 down
		{1, appsv1.DeploymentStrategy{}, 1, 0},
		{4, rolling(intstr.FromInt32(2), intstr.FromInt32(1)), 2, 1},
		{3, rolling(intstr.FromString("50%"), intstr.FromString("50%")), 2, 1},
		{5, rolling(intstr.FromInt32(0), intstr.FromString("10%")), 0, 1}, // both resolve to 0: one unavailable
		{2, rolling(intstr.FromInt32(0), intstr.FromInt32(5)), 0, 2},      // never more than replicas
		{3, appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, 0, 0},
	}
	for _, tt := range tests {
		d := deployment("web", tt.replicas, "img:1")
		d.Spec.Strategy = tt.strategy
		s, u := resolveFenceposts(d)
		if s != tt.surge || u != tt.unavailable {
			t.Errorf("replicas %d strategy %+v: surge %d unavailable %d; want %d %d", tt.replicas, tt.strategy.RollingUpdate, s, u, tt.surge, tt.unavailable)
		}
	}
}

// TestRollingUpdateSteps follows a rolling update pass by pass with an
// agent that readies every pod: 4 replicas, maxSurge 1, maxUnavailable 1.
func TestRollingUpdateSteps(t *testing.T) {
	d := deployment("web", 4, "img:1")
	d.Spec.Strategy = rolling(intstr.FromInt32(1), intstr.FromInt32(1))
	m := newSim(t, d)
	m.settle()
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:2" })
	rng := rand.New(rand.NewPCG(1, 2))
	var trace []map[string]int32
	for i := 0; i < 12; i++ {
		m.pass()
		trace = append(trace, m.rsReplicas())
		m.agent(rng, 1, 1)
	}
	// As Kubernetes: the new ReplicaSet is created with the surge (1) and
	// the old one loses the unavailability (1) in the same pass; after that
	// the new one grows while the total stays at 5, and the old one shrinks
	// while 3 stay available.
	want := []map[string]int32{
		{"img:1": 3, "img:2": 1},
		{"img:1": 3, "img:2": 2},
		{"img:1": 1, "img:2": 2},
		{"img:1": 1, "img:2": 4},
		{"img:1": 0, "img:2": 4},
		{"img:1": 0, "img:2": 4},
	}
	if diff := cmp.Diff(want, trace[:len(want)]); diff != "" {
		t.Errorf("replicas per pass (-want +got):\n%s", diff)
	}
	if c := m.condition(appsv1.DeploymentProgressing); c.Reason != reasonNewRSAvailable {
		t.Errorf("progressing %+v; want NewReplicaSetAvailable", c)
	}
	if c := m.condition(appsv1.DeploymentAvailable); c.Status != corev1.ConditionTrue {
		t.Errorf("available %+v", c)
	}
}

// TestRolloutInvariants is a seeded random walk over rollouts: random
// replicas, surge and unavailability (counts and percentages), template
// changes and reverts and replica changes at random moments, and an agent
// that readies pods and finishes deletions at random. After every pass: no
// more than replicas+maxSurge live pods; no fewer than
// replicas−maxUnavailable available ones (except while a change of replicas
// settles, where Kubernetes promises no such floor either); a template seen
// before runs in the ReplicaSet it ran in before; and in the end everything
// settles on the last template.
func TestRolloutInvariants(t *testing.T) {
	for seed := uint64(0); seed < 150; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		replicas := int32(1 + rng.IntN(8))
		pick := func() intstr.IntOrString {
			if rng.IntN(2) == 0 {
				return intstr.FromInt32(int32(rng.IntN(4)))
			}
			return intstr.FromString(fmt.Sprintf("%d%%", 10*rng.IntN(11)))
		}
		surge, unavail := pick(), pick()
		d := deployment("web", replicas, "img:0")
		d.Spec.Strategy = rolling(surge, unavail)
		m := newSim(t, d)
		m.settle()
		rsOf := map[string]types.UID{"img:0": m.s.ReplicaSets[0].UID}
		scaling := false
		for step := 0; step < 60; step++ {
			switch rng.IntN(10) {
			case 0, 1:
				img := fmt.Sprintf("img:%d", rng.IntN(3))
				m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img })
			case 2:
				n := int32(rng.IntN(9))
				m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(n) })
				scaling = true
			}
			replicas := *m.deployment().Spec.Replicas
			maxSurge, maxUnavailable := resolveFenceposts(m.deployment())
			m.pass()
			live, avail := m.counts()
			if live > int(replicas+maxSurge) {
				t.Fatalf("seed %d step %d: %d live pods > replicas %d + maxSurge %d", seed, step, live, replicas, maxSurge)
			}
			if !scaling && avail < int(replicas-maxUnavailable) {
				t.Fatalf("seed %d step %d: %d available pods < replicas %d - maxUnavailable %d", seed, step, avail, replicas, maxUnavailable)
			}
			for _, rs := range m.s.ReplicaSets {
				img := rs.Spec.Template.Spec.Containers[0].Image
				if uid, seen := rsOf[img]; seen && uid != rs.UID {
					t.Fatalf("seed %d step %d: template %s got a second ReplicaSet", seed, step, img)
				}
				rsOf[img] = rs.UID
			}
			m.agent(rng, 0.6, 0.5)
			if st := m.deployment().Status; scaling && st.AvailableReplicas >= replicas && st.Replicas == replicas {
				scaling = false
			}
		}
		m.settle()
		replicas = *m.deployment().Spec.Replicas
		live, avail := m.counts()
		img := m.deployment().Spec.Template.Spec.Containers[0].Image
		if live != int(replicas) || avail != int(replicas) || m.rsReplicas()[img] != replicas {
			t.Fatalf("seed %d: settled with %d live, %d available, replicasets %v; want %d of %s", seed, live, avail, m.rsReplicas(), replicas, img)
		}
		if c := m.condition(appsv1.DeploymentProgressing); c.Reason != reasonNewRSAvailable {
			t.Fatalf("seed %d: settled with progressing %+v", seed, c)
		}
	}
}

// TestProportionalScaling is Kubernetes' documented example: 10 replicas,
// maxSurge 3, maxUnavailable 2, a rollout stuck with 8 old and 5 new
// pods, scaled to 15: the 5 extra replicas go 3 to the old ReplicaSet and 2
// to the new one.
func TestProportionalScaling(t *testing.T) {
	d := deployment("web", 10, "img:1")
	d.Spec.Strategy = rolling(intstr.FromInt32(3), intstr.FromInt32(2))
	m := newSim(t, d)
	m.settle()
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:2" })
	never := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 4; i++ {
		m.pass()
		m.agent(never, 0, 1)
	}
	if got := m.rsReplicas(); !cmp.Equal(got, map[string]int32{"img:1": 8, "img:2": 5}) {
		t.Fatalf("stuck rollout: %v; want img:1=8 img:2=5", got)
	}
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](15) })
	m.pass()
	if got := m.rsReplicas(); !cmp.Equal(got, map[string]int32{"img:1": 11, "img:2": 7}) {
		t.Errorf("after scaling to 15: %v; want img:1=11 img:2=7", got)
	}
	m.settle()
	if got := m.rsReplicas(); !cmp.Equal(got, map[string]int32{"img:1": 0, "img:2": 15}) {
		t.Errorf("settled: %v", got)
	}
}

func TestRecreate(t *testing.T) {
	d := deployment("web", 3, "img:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	m := newSim(t, d)
	m.settle()
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:2" })
	m.pass()
	if got := m.rsReplicas(); got["img:1"] != 0 || got["img:2"] != 0 {
		t.Fatalf("first pass: %v; want old scaled to 0 and the new one empty", got)
	}
	m.pass() // old pods still stopping: nothing new starts
	if got := m.rsReplicas(); got["img:2"] != 0 {
		t.Fatalf("new pods started while old ones still stop: %v", got)
	}
	m.agent(rand.New(rand.NewPCG(1, 1)), 0, 1) // the old pods finish
	m.pass()
	if got := m.rsReplicas(); got["img:2"] != 3 {
		t.Fatalf("after old pods gone: %v; want the new one at 3", got)
	}
}

func TestMinReadySeconds(t *testing.T) {
	d := deployment("web", 2, "img:1")
	d.Spec.MinReadySeconds = 30
	m := newSim(t, d)
	m.pass()
	m.agent(rand.New(rand.NewPCG(1, 1)), 1, 1)
	m.pass()
	if got := m.deployment().Status; got.ReadyReplicas != 2 || got.AvailableReplicas != 0 {
		t.Fatalf("just ready: %+v; want 2 ready, 0 available", got)
	}
	if m.w.RequeueAfter != 30*time.Second {
		t.Errorf("requeue after %v; want 30s, when the pods become available", m.w.RequeueAfter)
	}
	m.now = m.now.Add(30 * time.Second)
	m.pass()
	if got := m.deployment().Status; got.AvailableReplicas != 2 {
		t.Fatalf("after minReadySeconds: %+v; want 2 available", got)
	}
	if c := m.condition(appsv1.DeploymentAvailable); c.Status != corev1.ConditionTrue {
		t.Errorf("available condition %+v", c)
	}
}

// TestProgressDeadline: new pods never get ready; after the deadline the
// rollout is marked ProgressDeadlineExceeded and stops, the old pods keep
// serving; a new commit starts again.
func TestProgressDeadline(t *testing.T) {
	d := deployment("web", 4, "img:1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	d.Spec.Strategy = rolling(intstr.FromInt32(1), intstr.FromInt32(1))
	m := newSim(t, d)
	m.settle()
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:bad" })
	never := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 5; i++ {
		m.pass()
		m.agent(never, 0, 1)
	}
	if c := m.condition(appsv1.DeploymentProgressing); c.Status != corev1.ConditionTrue {
		t.Fatalf("before the deadline: %+v", c)
	}
	before := m.rsReplicas()
	m.now = m.now.Add(61 * time.Second)
	m.pass()
	c := m.condition(appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" {
		t.Fatalf("after the deadline: %+v", c)
	}
	for i := 0; i < 3; i++ {
		m.pass()
		m.agent(never, 0, 1)
	}
	if diff := cmp.Diff(before, m.rsReplicas()); diff != "" {
		t.Errorf("stalled rollout kept scaling (-before +after):\n%s", diff)
	}
	if _, avail := m.counts(); avail != 3 {
		t.Errorf("%d old pods serving; want 3 (replicas 4 - maxUnavailable 1)", avail)
	}
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:1" })
	m.settle()
	if got := m.rsReplicas(); got["img:1"] != 4 || got["img:bad"] != 0 {
		t.Errorf("after reverting: %v", got)
	}
	if c := m.condition(appsv1.DeploymentProgressing); c.Reason != reasonNewRSAvailable {
		t.Errorf("after reverting: %+v", c)
	}
}

func TestPausedAndHistory(t *testing.T) {
	d := deployment("web", 2, "img:1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	d.Annotations = map[string]string{AnnotationRevision: "c1"}
	m := newSim(t, d)
	m.settle()
	m.setDeployment(func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		d.Spec.Replicas = ptr.To[int32](3)
		d.Spec.Template.Spec.Containers[0].Image = "img:2"
	})
	m.settle()
	if got := m.rsReplicas(); !cmp.Equal(got, map[string]int32{"img:1": 3}) {
		t.Errorf("paused: %v; want only the old ReplicaSet, scaled to 3", got)
	}
	if c := m.condition(appsv1.DeploymentProgressing); c.Reason != reasonPaused {
		t.Errorf("paused: %+v", c)
	}
	for i, img := range []string{"img:2", "img:3", "img:4"} {
		m.setDeployment(func(d *appsv1.Deployment) {
			d.Spec.Paused = false
			d.Spec.Template.Spec.Containers[0].Image = img
			d.Annotations[AnnotationRevision] = fmt.Sprintf("c%d", i+2)
		})
		m.settle()
	}
	if got := m.rsReplicas(); !cmp.Equal(got, map[string]int32{"img:3": 0, "img:4": 3}) {
		t.Errorf("history limit 1: %v; want img:4 active and img:3 kept", got)
	}
	for _, rs := range m.s.ReplicaSets {
		img := rs.Spec.Template.Spec.Containers[0].Image
		want := map[string]string{"img:3": "c3", "img:4": "c4"}[img]
		if rs.Annotations[AnnotationRevision] != want {
			t.Errorf("%s records commit %q; want %q", img, rs.Annotations[AnnotationRevision], want)
		}
	}
}

// TestRevertReusesReplicaSet: committing the old template again scales the
// old ReplicaSet back up, with the next revision number.
func TestRevertReusesReplicaSet(t *testing.T) {
	m := newSim(t, deployment("web", 2, "img:1"))
	m.settle()
	first := m.s.ReplicaSets[0].UID
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:2" })
	m.settle()
	m.setDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:1" })
	m.pass()
	if c := m.condition(appsv1.DeploymentProgressing); c.Reason != reasonFoundNewRS {
		t.Errorf("revert: %+v; want FoundNewReplicaSet", c)
	}
	m.settle()
	if len(m.s.ReplicaSets) != 2 {
		t.Fatalf("%d replicasets after revert; want 2", len(m.s.ReplicaSets))
	}
	for _, rs := range m.s.ReplicaSets {
		if rs.Spec.Template.Spec.Containers[0].Image == "img:1" {
			if rs.UID != first || ptr.Deref(rs.Spec.Replicas, 0) != 2 || rs.Annotations[annotationRSRevision] != "3" {
				t.Errorf("reverted replicaset uid %s replicas %d revision %s; want %s, 2, 3", rs.UID, ptr.Deref(rs.Spec.Replicas, 0), rs.Annotations[annotationRSRevision], first)
			}
		}
	}
}
