package reconciler

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func service(name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
			Annotations: map[string]string{manifest.SourceAnnotation: name + ".yaml:1"}},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Selector: map[string]string{"app": name}, Ports: ports},
	}
}

func nodePortService(name string, nodePorts ...int32) *corev1.Service {
	svc := service(name, "")
	svc.Spec.Type = corev1.ServiceTypeNodePort
	svc.Spec.Ports = nil
	for i, np := range nodePorts {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "p" + string(rune('a'+i)), Port: int32(80 + i), NodePort: np})
	}
	return svc
}

// storedAs plays the store: the puts of a plan become the stored objects.
func storedAs(t *testing.T, p RevisionPlan, prev []manifest.Object) []manifest.Object {
	t.Helper()
	if len(p.Errors) > 0 {
		t.Fatalf("unexpected errors: %v", p.Errors)
	}
	byKey := map[manifest.Key]manifest.Object{}
	for _, o := range prev {
		byKey[manifest.KeyOf(o)] = o
	}
	for _, o := range p.Deletes {
		delete(byKey, manifest.KeyOf(o))
	}
	for _, o := range p.Puts {
		o = manifest.DeepCopy(o)
		if o.GetUID() == "" {
			o.SetUID(types.UID("uid-" + o.GetName()))
		}
		byKey[manifest.KeyOf(o)] = o
	}
	var out []manifest.Object
	for _, o := range byKey {
		out = append(out, o)
	}
	return out
}

func clusterIPs(objs []manifest.Object) map[string]string {
	out := map[string]string{}
	for _, o := range objs {
		if svc, ok := o.(*corev1.Service); ok {
			out[svc.Name] = svc.Spec.ClusterIP
		}
	}
	return out
}

func TestServiceClusterIPAllocation(t *testing.T) {
	// First commit: two dynamic, one fixed, one headless.
	rev1 := []manifest.Object{service("a", ""), service("b", ""), service("fixed", "10.43.7.7"), service("dns-less", corev1.ClusterIPNone)}
	p := PlanRevision("c1", rev1, nil)
	st := storedAs(t, p, nil)
	ips := clusterIPs(st)
	if ips["fixed"] != "10.43.7.7" || ips["dns-less"] != corev1.ClusterIPNone {
		t.Fatalf("fixed/headless not honoured: %v", ips)
	}
	seen := map[string]bool{}
	for name, ip := range ips {
		if ip == corev1.ClusterIPNone {
			continue
		}
		addr := netip.MustParseAddr(ip)
		if manifest.CheckClusterIP(addr) != "" || seen[ip] {
			t.Errorf("%s got unusable or duplicate address %s", name, ip)
		}
		seen[ip] = true
	}
	for _, o := range st {
		svc := o.(*corev1.Service)
		if svc.Spec.ClusterIP != corev1.ClusterIPNone && !cmp.Equal(svc.Spec.ClusterIPs, []string{svc.Spec.ClusterIP}) {
			t.Errorf("%s clusterIPs %v", svc.Name, svc.Spec.ClusterIPs)
		}
	}

	// The same commit again (a restart, a re-sync) writes nothing and keeps
	// every address.
	if p2 := PlanRevision("c1", rev1, st); len(p2.Puts)+len(p2.Deletes) != 0 || len(p2.Errors) != 0 {
		t.Fatalf("re-sync wrote %d puts, %d deletes, errors %v", len(p2.Puts), len(p2.Deletes), p2.Errors)
	}
	// A later commit that changes a Service keeps its address; a new one
	// does not take a held address.
	a2 := service("a", "")
	a2.Spec.Ports[0].Port = 81
	rev2 := []manifest.Object{a2, service("b", ""), service("fixed", "10.43.7.7"), service("dns-less", corev1.ClusterIPNone), service("c", "")}
	st2 := storedAs(t, PlanRevision("c2", rev2, st), st)
	ips2 := clusterIPs(st2)
	for _, name := range []string{"a", "b", "fixed", "dns-less"} {
		if ips2[name] != ips[name] {
			t.Errorf("%s moved from %s to %s", name, ips[name], ips2[name])
		}
	}
	for _, name := range []string{"a", "b", "fixed"} {
		if ips2["c"] == ips2[name] {
			t.Errorf("c got %s's address %s", name, ips2["c"])
		}
	}

	tests := []struct {
		name    string
		desired []manifest.Object
		want    string // in the one error
	}{
		{"asks for an address another service holds", append(rev1[:4:4], service("d", ips["a"])), "is already allocated to Service default/a"},
		{"changes its address", []manifest.Object{service("a", "10.43.9.9"), rev1[1], rev1[2], rev1[3]}, "cannot change from " + ips["a"]},
		{"outside the CIDR", []manifest.Object{service("e", "10.44.0.5")}, "outside the service CIDR"},
		{"cluster DNS address", []manifest.Object{service("e", "10.43.0.10")}, "reserved for the cluster DNS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanRevision("c3", tt.desired, st)
			if len(p.Errors) != 1 || !strings.Contains(p.Errors[0], tt.want) || len(p.Puts)+len(p.Deletes) != 0 {
				t.Fatalf("errors %q, %d puts; want one containing %q and no writes", p.Errors, len(p.Puts), tt.want)
			}
			if !strings.Contains(p.Errors[0], ".yaml:1: Service default/") {
				t.Errorf("error does not name the file and object: %s", p.Errors[0])
			}
		})
	}

	// A removed Service releases its address in the same commit.
	rev3 := []manifest.Object{service("b", ""), service("d", ips["a"])}
	if p := PlanRevision("c3", rev3, st); len(p.Errors) != 0 {
		t.Errorf("address of a removed service not released: %v", p.Errors)
	}
}

func TestServiceNodePortAllocation(t *testing.T) {
	rev1 := []manifest.Object{nodePortService("web", 0, 30080), nodePortService("api", 0)}
	st := storedAs(t, PlanRevision("c1", rev1, nil), nil)
	ports := map[string][]int32{}
	used := map[int32]bool{}
	for _, o := range st {
		svc := o.(*corev1.Service)
		for _, p := range svc.Spec.Ports {
			if p.NodePort < manifest.NodePortMin || p.NodePort > manifest.NodePortMax || used[p.NodePort] {
				t.Errorf("%s port %d: bad or duplicate node port %d", svc.Name, p.Port, p.NodePort)
			}
			used[p.NodePort] = true
			ports[svc.Name] = append(ports[svc.Name], p.NodePort)
		}
	}
	if ports["web"][1] != 30080 {
		t.Errorf("explicit node port not honoured: %v", ports["web"])
	}
	if p := PlanRevision("c2", rev1, st); len(p.Puts) != 0 {
		t.Errorf("re-sync rewrote %d services", len(p.Puts))
	}
	// Changing a port's number keeps the node ports (matched by name).
	web2 := nodePortService("web", 0, 30080)
	web2.Spec.Ports[0].Port = 8000
	st2 := storedAs(t, PlanRevision("c2", []manifest.Object{web2, nodePortService("api", 0)}, st), st)
	for _, o := range st2 {
		if svc := o.(*corev1.Service); svc.Name == "web" && svc.Spec.Ports[0].NodePort != ports["web"][0] {
			t.Errorf("web's node port moved from %d to %d", ports["web"][0], svc.Spec.Ports[0].NodePort)
		}
	}
	// Asking for a node port another service holds is refused.
	p := PlanRevision("c3", []manifest.Object{nodePortService("web", 0, 30080), nodePortService("api", 0), nodePortService("new", ports["api"][0])}, st)
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0], "already allocated to Service default/api") {
		t.Errorf("errors %q", p.Errors)
	}
}
