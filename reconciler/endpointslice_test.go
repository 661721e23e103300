package reconciler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func sliceEP(name, ip string, ready, serving, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating)},
		NodeName:   ptr.To("n1"),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: types.UID("u-" + name)},
	}
}

func slicePort(name string, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}
}

func TestServiceSlices(t *testing.T) {
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports},
		}
	}
	named := func(port int32) corev1.ContainerPort { return corev1.ContainerPort{Name: "http", ContainerPort: port} }
	terminating := epPod("t", "10.42.0.9", true)
	terminating.DeletionTimestamp = &metav1.Time{}
	many := make([]*corev1.Pod, 0, 205)
	for i := range 205 {
		many = append(many, epPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.42.%d.%d", i/200, i%200+2), true))
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		// want is, per slice, the ports and the endpoints' pod names.
		want []string
	}{
		{
			name: "ready, not ready and terminating pods with their conditions",
			svc:  svc(corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}),
			pods: []*corev1.Pod{epPod("a", "10.42.0.2", true), epPod("b", "10.42.0.3", false), terminating},
			want: []string{"=8080/TCP: a(ready,serving) b() t(serving,terminating)"},
		},
		{
			name: "named ports resolved per pod split the slices",
			svc:  svc(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}),
			pods: []*corev1.Pod{epPod("a", "10.42.0.2", true, named(8080)), epPod("b", "10.42.0.3", true, named(9090)), epPod("c", "10.42.0.4", true)},
			want: []string{"web=8080/TCP: a(ready,serving)", "web=9090/TCP: b(ready,serving)"},
		},
		{
			name: "at most 100 endpoints a slice",
			svc:  svc(corev1.ServicePort{Port: 80}),
			pods: many,
			want: []string{"=80/TCP: 100 endpoints", "=80/TCP: 100 endpoints", "=80/TCP: 5 endpoints"},
		},
		{
			name: "no pods",
			svc:  svc(corev1.ServicePort{Port: 80}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range ServiceSlices(tt.svc, tt.pods) {
				if s.AddressType != discoveryv1.AddressTypeIPv4 {
					t.Errorf("address type %q", s.AddressType)
				}
				got = append(got, describeSlice(s))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("slices (-want +got):\n%s", diff)
			}
		})
	}
	// Every field of one endpoint, as Kubernetes writes it.
	s := ServiceSlices(svc(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}), []*corev1.Pod{epPod("a", "10.42.0.2", true, named(8080))})
	want := []discoveryv1.EndpointSlice{{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{slicePort("web", 8080)},
		Endpoints:   []discoveryv1.Endpoint{sliceEP("a", "10.42.0.2", true, true, false)},
	}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("slice (-want +got):\n%s", diff)
	}
}

func describeSlice(s discoveryv1.EndpointSlice) string {
	out := slicePortsKey(s.Ports)
	out = out[:max(len(out)-1, 0)] + ":"
	if len(s.Endpoints) > 3 {
		return fmt.Sprintf("%s %d endpoints", out, len(s.Endpoints))
	}
	for _, e := range s.Endpoints {
		var conds []string
		if *e.Conditions.Ready {
			conds = append(conds, "ready")
		}
		if *e.Conditions.Serving {
			conds = append(conds, "serving")
		}
		if *e.Conditions.Terminating {
			conds = append(conds, "terminating")
		}
		name := e.Addresses[0]
		if e.TargetRef != nil {
			name = e.TargetRef.Name
		}
		out += fmt.Sprintf(" %s(%s)", name, strings.Join(conds, ","))
	}
	return out
}

func TestMirrorSlices(t *testing.T) {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{
			{
				Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.11"}, {IP: "192.0.2.10"}},
				NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.12"}},
				Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432}},
			},
			{
				Addresses: []corev1.EndpointAddress{{IP: "192.0.2.20"}},
				Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
			},
		},
	}
	var got []string
	for _, s := range MirrorSlices(ep) {
		got = append(got, describeSlice(s))
	}
	want := []string{"pg=5432/TCP: 192.0.2.10(ready,serving) 192.0.2.11(ready,serving) 192.0.2.12()"}
	// Subsets with the same ports merge into one slice (4 endpoints).
	if len(got) != 1 || got[0] != "pg=5432/TCP: 4 endpoints" {
		t.Errorf("mirrored slices %v; want one slice of 4 endpoints", got)
	}
	ep.Subsets = ep.Subsets[:1]
	got = nil
	for _, s := range MirrorSlices(ep) {
		got = append(got, describeSlice(s))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mirrored slices (-want +got):\n%s", diff)
	}
}

// A Service without a selector keeps the Endpoints committed beside it:
// the reconciler neither rewrites nor deletes them, and mirrors them into
// an EndpointSlice. A committed Endpoints without a Service is kept too.
func TestCommittedEndpointsMirrored(t *testing.T) {
	ids := &seqIDs{}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "svc-db", Labels: map[string]string{"tier": "data"}},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.43.2.2", Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	}
	src := map[string]string{manifest.SourceAnnotation: "db.yaml:10"}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "ep-db", ResourceVersion: "3", Annotations: src},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}},
			Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432}},
		}},
	}
	orphan := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: "default", UID: "ep-lone", Annotations: src}}
	// Computed while web had a selector; the selector is gone.
	stale := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "ep-web"}}
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-web"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.2.3", Ports: []corev1.ServicePort{{Port: 80}}}}
	s := Snapshot{Services: []*corev1.Service{svc, web}, Endpoints: []*corev1.Endpoints{ep, orphan, stale}}
	w := Plan(s, t0, ids, FitScheduler{})
	if len(w.Deletes) != 1 || w.Deletes[0] != manifest.Object(stale) {
		t.Errorf("deletes %v; want only the stale computed Endpoints web (committed ones stay)", w.Deletes)
	}
	s.Endpoints = s.Endpoints[:2]
	var slices []*discoveryv1.EndpointSlice
	for _, o := range w.Puts {
		switch o := o.(type) {
		case *corev1.Endpoints:
			t.Errorf("rewrote committed Endpoints %s", o.Name)
		case *discoveryv1.EndpointSlice:
			slices = append(slices, o)
		}
	}
	if len(slices) != 1 {
		t.Fatalf("%d slices written; want 1", len(slices))
	}
	got := slices[0]
	wantLabels := map[string]string{"tier": "data", discoveryv1.LabelServiceName: "db", discoveryv1.LabelManagedBy: ManagedBy}
	if diff := cmp.Diff(wantLabels, got.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if got.GenerateName != "db-" || got.OwnerReferences[0].UID != "svc-db" {
		t.Errorf("slice %s (generateName %q, owner %v)", got.Name, got.GenerateName, got.OwnerReferences)
	}
	if d := describeSlice(*got); d != "pg=5432/TCP: 192.0.2.10(ready,serving)" {
		t.Errorf("slice %s", d)
	}
	// Stored, it is left alone; the Service gone, it goes.
	s.EndpointSlices = []*discoveryv1.EndpointSlice{got}
	if w := Plan(s, t0, ids, FitScheduler{}); !w.Empty() {
		t.Errorf("steady state wrote %d puts, %d deletes", len(w.Puts), len(w.Deletes))
	}
	s.Services = nil
	w = Plan(s, t0, ids, FitScheduler{})
	if len(w.Deletes) != 1 || w.Deletes[0] != manifest.Object(got) {
		t.Errorf("deletes %v; want only the slice", w.Deletes)
	}
}

// A revision never prunes the Endpoints the reconciler computed, though
// Endpoints may now be committed.
func TestRevisionKeepsComputedEndpoints(t *testing.T) {
	computed := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "ep-web"}}
	gitEP := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "ep-db",
		Annotations: map[string]string{manifest.SourceAnnotation: "db.yaml:1"}}}
	p := PlanRevision("abc", nil, []manifest.Object{computed, gitEP})
	if len(p.Deletes) != 1 || p.Deletes[0] != manifest.Object(gitEP) {
		t.Errorf("deletes %v; want only the committed Endpoints db", p.Deletes)
	}
}

// Slices are reused by name when their content changes, split at 100
// endpoints and deleted when no longer needed.
func TestPlanEndpointSlicesReuse(t *testing.T) {
	ids := &seqIDs{}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	var pods []*corev1.Pod
	for i := range 150 {
		pods = append(pods, epPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.42.%d.%d", i/200, i%200+2), true))
	}
	s := Snapshot{Services: []*corev1.Service{svc}, Pods: pods}
	plan := func() (puts []*discoveryv1.EndpointSlice, deletes []string) {
		w := Plan(s, t0, ids, FitScheduler{})
		for _, o := range w.Puts {
			if es, ok := o.(*discoveryv1.EndpointSlice); ok {
				puts = append(puts, es)
			}
		}
		for _, o := range w.Deletes {
			if es, ok := o.(*discoveryv1.EndpointSlice); ok {
				deletes = append(deletes, es.Name)
			}
		}
		return puts, deletes
	}
	created, _ := plan()
	if len(created) != 2 || len(created[0].Endpoints) != 100 || len(created[1].Endpoints) != 50 {
		t.Fatalf("created %d slices; want 100 + 50 endpoints", len(created))
	}
	for _, es := range created {
		es.ResourceVersion = "1"
	}
	s.EndpointSlices = created
	if puts, dels := plan(); len(puts) != 0 || len(dels) != 0 {
		t.Errorf("steady state wrote %d slices, deleted %v", len(puts), dels)
	}
	s.Pods = pods[:50]
	puts, dels := plan()
	if len(puts) != 1 || puts[0].Name != created[0].Name || len(puts[0].Endpoints) != 50 || puts[0].ResourceVersion != "1" {
		t.Errorf("after scaling down: puts %v; want %s updated in place with 50 endpoints", puts, created[0].Name)
	}
	if !cmp.Equal(dels, []string{created[1].Name}) {
		t.Errorf("deleted %v; want %s", dels, created[1].Name)
	}
}
