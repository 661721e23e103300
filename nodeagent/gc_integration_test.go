package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	"github.com/containerd/containerd/snapshots"
	"github.com/opencontainers/image-spec/identity"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/podnet"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestGCAtStartIntegration leaves what crashed or vanished pods leave
// behind while the agent is down (a wired network namespace with its CNI
// allocation, a bare host-local allocation file, a running container with
// tug's labels for an unknown pod, an orphan snapshot, a pod directory)
// and starts the agent again: all of it is gone, while the pod that
// should exist keeps its process and its address.
func TestGCAtStartIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	const node, cidr = "node-1", "10.42.15.0/24"
	keeper := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "keeper", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: testenv.HelloV1Ref}}},
	}
	if _, err := st.Apply([]manifest.Object{keeper}, nil, nil); err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeName: node, DataDir: dataDir, PodCIDR: cidr, Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, RuncRoot: ctrd.RuncRoot, Logger: testLogger(t)}
	first := startAgent(t, cfg)
	var p *corev1.Pod
	waitFor(t, 60*time.Second, func() string {
		p = getPod(t, st, "default", "keeper")
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("not running: %+v", p.Status.ContainerStatuses)
		}
		return ""
	})
	first.stop()
	keeperID := ContainerID(p.UID, "app")
	pid := mustTask(t, ctx, ctrd.Client, keeperID).Pid()

	// Leftovers, made while no agent runs.
	const ghostNet, ghostIPAM, ghostCtr, ghostSnap = "11111111-1111-4111-8111-111111111111",
		"22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
	network, err := podnet.New(podnet.Config{DataDir: dataDir, PodCIDR: cidr})
	if err != nil {
		t.Fatal(err)
	}
	_, ghostIP, err := network.Setup(ctx, ghostNet)
	if err != nil {
		t.Fatal(err)
	}
	ipamDir := filepath.Join(dataDir, "cni", "ipam", podnet.NetworkName)
	if err := os.WriteFile(filepath.Join(ipamDir, "10.42.15.200"), []byte(ghostIPAM+"\neth0"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := ctrd.Client.GetImage(ctx, testenv.HelloV1Ref)
	if err != nil {
		t.Fatal(err)
	}
	ghostContainer, err := ctrd.Client.NewContainer(ctx, ContainerID(ghostCtr, "app"),
		containerd.WithImage(img),
		containerd.WithNewSnapshot(ContainerID(ghostCtr, "app"), img),
		containerd.WithNewSpec(oci.WithImageConfig(img)),
		containerd.WithRuntime(plugin.RuntimeRuncV2, &runcoptions.Options{Root: ctrd.RuncRoot}),
		containerd.WithContainerLabels(map[string]string{
			LabelPodUID: ghostCtr, LabelPodNamespace: "default", LabelPodName: "ghost", LabelContainer: "app",
			LabelNode: node, labelGrace: "1s",
		}))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ghostContainer.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sn := ctrd.Client.SnapshotService(containerd.DefaultSnapshotter)
	if _, err := sn.Prepare(ctx, ContainerID(ghostSnap, "app"), identity.ChainID(diffIDs).String()); err != nil {
		t.Fatal(err)
	}
	ghostDir := filepath.Join(dataDir, "pods", "default_ghost_"+ghostNet)
	if err := os.MkdirAll(filepath.Join(ghostDir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}

	startAgent(t, cfg)
	waitFor(t, 30*time.Second, func() string {
		var left []string
		netns, _ := os.ReadDir(filepath.Join(dataDir, "netns"))
		for _, e := range netns {
			if e.Name() != string(p.UID) {
				left = append(left, "netns "+e.Name())
			}
		}
		allocs, _ := os.ReadDir(ipamDir)
		for _, e := range allocs {
			if e.Name() == ghostIP || e.Name() == "10.42.15.200" {
				left = append(left, "allocation "+e.Name())
			}
		}
		conts, err := ctrd.Client.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conts {
			if c.ID() != keeperID {
				left = append(left, "container "+c.ID())
			}
		}
		_ = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			if info.Kind == snapshots.KindActive && info.Name != keeperID {
				left = append(left, "snapshot "+info.Name)
			}
			return nil
		})
		if _, err := os.Stat(ghostDir); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "pod dir "+ghostDir)
		}
		slices.Sort(left)
		if len(left) > 0 {
			return fmt.Sprintf("left: %v", left)
		}
		return ""
	})
	if got := mustTask(t, ctx, ctrd.Client, keeperID).Pid(); got != pid {
		t.Errorf("keeper's process %d after the clean-up, want %d", got, pid)
	}
	if ip, ok := network.Ready(p.UID); !ok || ip != p.Status.PodIP {
		t.Errorf("keeper's address %q %v, want %s kept", ip, ok, p.Status.PodIP)
	}
	if _, err := os.Stat(filepath.Join(ipamDir, p.Status.PodIP)); err != nil {
		t.Errorf("keeper's allocation: %v", err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
