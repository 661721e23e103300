package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func epPod(name, ip string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("u-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

func addr(name, ip string) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: ip, NodeName: ptr.To("n1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: types.UID("u-" + name)}}
}

func TestEndpointSubsets(t *testing.T) {
	named := func(port int32) corev1.ContainerPort { return corev1.ContainerPort{Name: "http", ContainerPort: port} }
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		s := service("web", "10.43.1.1", ports...)
		return s
	}
	deleting := epPod("gone", "10.42.0.9", true, named(8080))
	deleting.DeletionTimestamp = &metav1.Time{}
	done := epPod("done", "10.42.0.8", false, named(8080))
	done.Status.Phase = corev1.PodSucceeded
	other := epPod("other", "10.42.0.7", true, named(8080))
	other.Labels = map[string]string{"app": "api"}

	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{
			name: "ready and not ready, numeric target port",
			svc:  svc(corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}),
			pods: []*corev1.Pod{epPod("b", "10.42.0.3", true), epPod("a", "10.42.0.2", true), epPod("c", "10.42.0.4", false), epPod("noip", "", true), deleting, done, other},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr("a", "10.42.0.2"), addr("b", "10.42.0.3")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("c", "10.42.0.4")},
				Ports:             []corev1.EndpointPort{{Port: 8080, Protocol: corev1.ProtocolTCP}},
			}},
		},
		{
			name: "target port left out is the port",
			svc:  svc(corev1.ServicePort{Port: 80}),
			pods: []*corev1.Pod{epPod("a", "10.42.0.2", true)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.2")}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
		},
		{
			name: "named target port resolved per pod; pods without it left out",
			svc:  svc(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}),
			pods: []*corev1.Pod{epPod("a", "10.42.0.2", true, named(8080)), epPod("b", "10.42.0.3", true, named(9090)), epPod("c", "10.42.0.4", true)},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.2")}, Ports: []corev1.EndpointPort{{Name: "web", Port: 8080, Protocol: corev1.ProtocolTCP}}},
				{Addresses: []corev1.EndpointAddress{addr("b", "10.42.0.3")}, Ports: []corev1.EndpointPort{{Name: "web", Port: 9090, Protocol: corev1.ProtocolTCP}}},
			},
		},
		{
			name: "no matching pods",
			svc:  svc(corev1.ServicePort{Port: 80}),
			pods: []*corev1.Pod{other},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EndpointSubsets(tt.svc, tt.pods)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("subsets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanEndpointsWritesOnlyChanges(t *testing.T) {
	ids := &seqIDs{}
	s := Snapshot{
		Deployments: []*appsv1.Deployment{deployment("web", 2, "img:1")},
		ConfigMaps:  []*corev1.ConfigMap{configMap("one")},
		Nodes:       []*corev1.Node{readyNode("n1", "2")},
		Services:    []*corev1.Service{service("web", "10.43.1.1")},
	}
	s = converge(t, s, ids)
	if len(s.Endpoints) != 1 || len(s.Endpoints[0].Subsets) != 1 || len(s.Endpoints[0].Subsets[0].Addresses) != 2 {
		t.Fatalf("endpoints %+v; want one subset with 2 ready addresses", s.Endpoints)
	}
	if s.Endpoints[0].Name != "web" || s.Endpoints[0].Namespace != "default" {
		t.Errorf("endpoints named %s/%s", s.Endpoints[0].Namespace, s.Endpoints[0].Name)
	}
	if w := Plan(s, t0, ids, FitScheduler{}); !w.Empty() {
		t.Fatalf("steady state wrote %d puts", len(w.Puts))
	}
	// A pod turning not ready moves to notReadyAddresses.
	p := s.Pods[0].DeepCopy()
	p.Status.Conditions[len(p.Status.Conditions)-1].Status = corev1.ConditionFalse
	s.Pods[0] = p
	w := Plan(s, t0, ids, FitScheduler{})
	var ep *corev1.Endpoints
	for _, o := range w.Puts {
		if e, ok := o.(*corev1.Endpoints); ok {
			ep = e
		}
	}
	if ep == nil {
		t.Fatalf("no endpoints written among %d puts", len(w.Puts))
	}
	if len(ep.Subsets[0].Addresses) != 1 || len(ep.Subsets[0].NotReadyAddresses) != 1 || ep.ResourceVersion == "" {
		t.Errorf("after a pod turned not ready: %+v", ep)
	}
	// The Service gone, its Endpoints go.
	s.Services = nil
	w = Plan(s, t0, ids, FitScheduler{})
	var gone []string
	for _, d := range w.Deletes {
		gone = append(gone, manifest.KeyOf(d).String())
	}
	if want := []string{"Endpoints/default/web", "EndpointSlice/default/" + s.EndpointSlices[0].Name}; !cmp.Equal(gone, want) {
		t.Errorf("deletes %v; want %v", gone, want)
	}
}
