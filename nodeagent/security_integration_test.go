package nodeagent

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSecurityContextIntegration reads the effect of securityContext from
// inside real containers through the demo app: runAsUser/runAsGroup with
// fsGroup and supplementalGroups (/id), capabilities SYS_TIME added and
// CHOWN dropped, allowPrivilegeEscalation false and the default seccomp
// profile (/caps), privileged (/caps), readOnlyRootFilesystem with a
// writable emptyDir (/write); and runAsNonRoot refusing the root image with
// CreateContainerConfigError.
func TestSecurityContextIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	var err error

	const ns, node = "default", "node-1"
	grace := int64(2)
	yes, no := true, false
	uid, gid, fsGroup := int64(405), int64(100), int64(2000)
	app := func(name string, port int, sc *corev1.SecurityContext) corev1.Container {
		return corev1.Container{Name: name, Image: testenv.HelloV1Ref, SecurityContext: sc,
			Env: []corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(port)}}}
	}
	ro := app("ro", 8083, &corev1.SecurityContext{ReadOnlyRootFilesystem: &yes})
	ro.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	secure := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "secure", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			SecurityContext: &corev1.PodSecurityContext{FSGroup: &fsGroup, SupplementalGroups: []int64{3000}},
			Containers: []corev1.Container{
				app("user", 8081, &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &yes}),
				app("caps", 8082, &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_TIME"}, Drop: []corev1.Capability{"CHOWN"}}}),
				ro,
				app("priv", 8084, &corev1.SecurityContext{Privileged: &yes}),
			},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	nonRoot := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "nonroot", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &grace,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes},
			Containers:      []corev1.Container{{Name: "app", Image: testenv.HelloV1Ref}},
		},
	}
	if _, err := st.Apply([]manifest.Object{secure, nonRoot}, nil, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.10.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: log, RuncRoot: ctrd.RuncRoot,
	})
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		if p = getPod(t, st, ns, "secure"); p.Status.Phase != corev1.PodRunning || !podReady(p) {
			return fmt.Sprintf("secure not running and ready: %+v", p.Status)
		}
		return ""
	})
	get := func(port int, path string) (string, error) {
		var body string
		var err error
		deadline := time.Now().Add(10 * time.Second)
		for {
			body, err = httpGet(client, fmt.Sprintf("http://%s:%d%s", p.Status.PodIP, port, path))
			if err == nil || strings.Contains(err.Error(), ": 500 ") || time.Now().After(deadline) {
				return body, err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mustGet := func(port int, path string) string {
		t.Helper()
		body, err := get(port, path)
		if err != nil {
			t.Fatalf("GET :%d%s: %v", port, path, err)
		}
		return body
	}

	// runAsUser, runAsGroup, fsGroup and supplementalGroups.
	id := mustGet(8081, "/id")
	if !strings.HasPrefix(id, "uid=405 gid=100 groups=") {
		t.Errorf("/id of user = %q, want uid=405 gid=100", id)
	}
	groups := strings.Split(strings.TrimSpace(strings.TrimPrefix(id, "uid=405 gid=100 groups=")), ",")
	for _, g := range []string{"2000", "3000"} {
		if !slices.Contains(groups, g) {
			t.Errorf("/id of user = %q: group %s (fsGroup / supplementalGroups) missing", id, g)
		}
	}

	// Capabilities, no_new_privs and the default seccomp profile.
	caps := parseStatus(mustGet(8082, "/caps"))
	eff := capBits(t, caps["CapEff"])
	if eff&(1<<unix.CAP_SYS_TIME) == 0 || eff&(1<<unix.CAP_CHOWN) != 0 {
		t.Errorf("caps: CapEff %s: want SYS_TIME (added) and not CHOWN (dropped)", caps["CapEff"])
	}
	if eff&(1<<unix.CAP_SYS_ADMIN) != 0 {
		t.Errorf("caps: CapEff %s has SYS_ADMIN", caps["CapEff"])
	}
	if caps["NoNewPrivs"] != "1" || caps["Seccomp"] != "2" {
		t.Errorf("caps: NoNewPrivs %q Seccomp %q, want 1 and 2 (filter)", caps["NoNewPrivs"], caps["Seccomp"])
	}
	// Privileged: every capability, no seccomp.
	priv := parseStatus(mustGet(8084, "/caps"))
	if e := capBits(t, priv["CapEff"]); e&(1<<unix.CAP_SYS_ADMIN) == 0 || priv["Seccomp"] != "0" {
		t.Errorf("priv: CapEff %s Seccomp %s, want SYS_ADMIN and no seccomp", priv["CapEff"], priv["Seccomp"])
	}

	// A read-only root file system, a writable volume.
	if _, err := get(8083, "/write?path=/data/x"); err != nil {
		t.Errorf("write to the emptyDir: %v", err)
	}
	if _, err := get(8083, "/write?path=/x"); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("write to the read-only root: %v, want a read-only file system error", err)
	}

	// runAsNonRoot with a root image: refused, never started.
	waitFor(t, 30*time.Second, func() string {
		n := getPod(t, st, ns, "nonroot")
		cs := containerStatusOf(n, "app")
		if cs == nil || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CreateContainerConfigError" ||
			!strings.Contains(cs.State.Waiting.Message, "runAsNonRoot and image will run as root") {
			return fmt.Sprintf("nonroot not refused: %+v", n.Status)
		}
		return ""
	})
	all, err := ctrd.Client.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if labels, _ := c.Labels(ctx); labels[LabelPodName] == "nonroot" {
			t.Errorf("a container of nonroot was created: %s", c.ID())
		}
	}

	for _, name := range []string{"secure", "nonroot"} {
		if err := st.Mutate(manifest.Key{Kind: manifest.KindPod, Namespace: ns, Name: name}, func(cur manifest.Object) (manifest.Object, error) {
			p := cur.(*corev1.Pod)
			now := metav1.Now()
			p.DeletionTimestamp = &now
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, func() string {
		for _, name := range []string{"secure", "nonroot"} {
			if getPod(t, st, ns, name) != nil {
				return name + " still in the store"
			}
		}
		return ""
	})
}

// parseStatus reads "Key:\tvalue" lines.
func parseStatus(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func capBits(t *testing.T, hex string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", hex, err)
	}
	return v
}
