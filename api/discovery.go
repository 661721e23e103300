package api

import (
	"net/http"
	"runtime"
	"sort"
	"strings"

	"github.com/tug-dev/tug/manifest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// kubeMinor is the Kubernetes minor version whose API types tug serves
// (k8s.io/api v0.37 is Kubernetes 1.37).
const kubeMinor = "37"

func (s *server) version(w http.ResponseWriter, r *http.Request) {
	git := "v1." + kubeMinor + ".0-tug"
	if s.cfg.Version != "" {
		git += "+" + s.cfg.Version
	}
	s.writeJSON(w, http.StatusOK, version.Info{
		Major:      "1",
		Minor:      kubeMinor,
		GitVersion: git,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	})
}

func (s *server) apiVersions(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
		},
	})
}

// apiGroupNames are the API groups tug serves besides the core group: every
// group of a registered kind.
var apiGroupNames = func() []string {
	seen := map[string]bool{}
	var out []string
	for _, kind := range manifest.Kinds() {
		gvk, _ := manifest.GVK(kind)
		if gvk.Group != "" && !seen[gvk.Group] {
			seen[gvk.Group] = true
			out = append(out, gvk.Group)
		}
	}
	sort.Strings(out)
	return out
}()

func apiGroup(name string) metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: name + "/v1", Version: "v1"}
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             name,
		Versions:         []metav1.GroupVersionForDiscovery{v},
		PreferredVersion: v,
	}
}

func (s *server) apiGroups(w http.ResponseWriter, r *http.Request) {
	var groups []metav1.APIGroup
	for _, name := range apiGroupNames {
		g := apiGroup(name)
		g.TypeMeta = metav1.TypeMeta{}
		groups = append(groups, g)
	}
	s.writeJSON(w, http.StatusOK, metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   groups,
	})
}

// resources lists the resources tug serves in one API group: get and list
// (tug is read-only), and watch when the server serves watches.
func resources(group string, watch bool) []metav1.APIResource {
	var out []metav1.APIResource
	for _, kind := range manifest.Kinds() {
		gvk, _ := manifest.GVK(kind)
		if gvk.Group != group {
			continue
		}
		res := metav1.APIResource{
			Name:         manifest.Plural(kind),
			SingularName: strings.ToLower(kind),
			Namespaced:   manifest.Namespaced(kind),
			Kind:         kind,
			Verbs:        metav1.Verbs{"get", "list"},
		}
		if watch {
			res.Verbs = append(res.Verbs, "watch")
		}
		if sn := manifest.ShortName(kind); sn != "" {
			res.ShortNames = []string{sn}
		}
		out = append(out, res)
		if kind == manifest.KindPod {
			out = append(out, metav1.APIResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}})
		}
	}
	return out
}

func (s *server) resourceList(w http.ResponseWriter, r *http.Request, group string) {
	gv := "v1"
	if group != "" {
		gv = group + "/v1"
	}
	s.writeJSON(w, http.StatusOK, metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv,
		APIResources: resources(group, s.cfg.Watch != nil),
	})
}
