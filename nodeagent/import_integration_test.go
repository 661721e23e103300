package nodeagent

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/images"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestImportWaitIntegration: while archives in the images directory wait
// to be imported, a pod whose image is present starts and a pod whose
// image is missing waits (ContainerCreating) instead of pulling; once the
// archives are imported (two at once) it starts too.
func TestImportWaitIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	_, v2 := testenv.HelloImages(t)
	imgDir := filepath.Join(dataDir, "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"hello-v2.tar", "hello-v2-copy.tar"} {
		data, err := os.ReadFile(v2)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(imgDir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	imp := &images.Importer{Client: ctrd.Client, Dir: imgDir, Namespace: testenv.Namespace, Concurrency: 2}

	const node = "node-1"
	mk := func(name, image string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent}}},
		}
	}
	if _, err := st.Apply([]manifest.Object{mk("present", testenv.HelloV1Ref), mk("importing", testenv.HelloV2Ref)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.13.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: logger, RuncRoot: ctrd.RuncRoot, Imports: imp,
	})
	running := func(name string) string {
		p := getPod(t, st, "default", name)
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("%s not running: %+v", name, p.Status.ContainerStatuses)
		}
		return ""
	}
	waitFor(t, 60*time.Second, func() string { return running("present") })
	waitFor(t, 30*time.Second, func() string {
		cs := containerStatusOf(getPod(t, st, "default", "importing"), "app")
		if cs == nil || cs.State.Waiting == nil || cs.State.Waiting.Reason != "ContainerCreating" ||
			!strings.Contains(cs.State.Waiting.Message, "waiting for image archives to be imported") {
			return fmt.Sprintf("importing pod not waiting for the import: %+v", cs)
		}
		return ""
	})
	if events := podEvents(t, st, "importing"); strings.Contains(events, "Pulling") {
		t.Errorf("the pod waiting for an import pulled:\n%s", events)
	}

	if err := imp.ImportAll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string { return running("importing") })
}
