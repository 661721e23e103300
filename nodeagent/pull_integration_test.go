package nodeagent

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/tug-dev/tug/internal/testenv"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testRegistry serves an in-memory registry on 127.0.0.1 behind basic auth
// and returns its host:port.
func testRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="tug-test-registry"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// pushImage pushes the local image src to ref through containerd.
func pushImage(t *testing.T, ctx context.Context, client *containerd.Client, src, ref, user, pass string) {
	t.Helper()
	img, err := client.GetImage(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(docker.MatchLocalhost),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(func(string) (string, string, error) {
			return user, pass, nil
		}))),
	)})
	if err := client.Push(ctx, ref, img.Target(), containerd.WithResolver(resolver)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func regcred(host, user, pass string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "default"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)},
	}
}

// syncBuffer is a log sink the test can read while the agent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestImagePullIntegration pulls a pod's image from a registry on
// 127.0.0.1 that wants basic auth, with the credentials of the pod's
// imagePullSecrets: a wrong password gives ErrImagePull then
// ImagePullBackOff with the registry's 401 and Warning events; fixing the
// Secret starts the pod on the next try, with Pulling and Pulled events.
// The password never shows in events or logs.
func TestImagePullIntegration(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	ctrd, ctx, dataDir, st := integrationEnv(t)
	const user, goodPass, badPass = "puller", "good-pass-4711", "bad-pass-0815"
	host := testRegistry(t, user, goodPass)
	image := host + "/team/hello:v1"
	pushImage(t, ctx, ctrd.Client, testenv.HelloV1Ref, image, user, goodPass)
	// Only the registry has it now: the pull fetches every byte.
	if err := ctrd.Client.ImageService().Delete(ctx, testenv.HelloV1Ref, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}

	const node = "node-1"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "private", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:         node,
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
			Containers:       []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent}},
		},
	}
	if _, err := st.Apply([]manifest.Object{regcred(host, user, badPass), pod}, nil, nil); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	startAgent(t, Config{
		NodeName: node, DataDir: dataDir, PodCIDR: "10.42.12.0/24", Client: ctrd.Client,
		Namespace: testenv.Namespace, Store: st, Logger: logger, RuncRoot: ctrd.RuncRoot, Resync: time.Second,
	})

	seen := map[string]string{}
	waitFor(t, 60*time.Second, func() string {
		cs := containerStatusOf(getPod(t, st, "default", "private"), "app")
		if cs == nil || cs.State.Waiting == nil {
			return fmt.Sprintf("not waiting: %+v", cs)
		}
		w := cs.State.Waiting
		if w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" {
			seen[w.Reason] = w.Message
		}
		if len(seen) < 2 {
			return fmt.Sprintf("want ErrImagePull then ImagePullBackOff, seen %v (now %s: %s)", seen, w.Reason, w.Message)
		}
		return ""
	})
	for reason, msg := range seen {
		if !strings.Contains(msg, "401") {
			t.Errorf("%s message %q does not carry the registry's 401", reason, msg)
		}
	}
	if msg := seen["ImagePullBackOff"]; !strings.HasPrefix(msg, fmt.Sprintf("Back-off pulling image %q", image)) {
		t.Errorf("ImagePullBackOff message %q", msg)
	}
	events := podEvents(t, st, "private")
	for _, want := range []string{"Normal Pulling", "Warning Failed", "Warning BackOff"} {
		if !strings.Contains(events, want) {
			t.Errorf("no %s event in:\n%s", want, events)
		}
	}
	if !strings.Contains(events, "401") {
		t.Errorf("no event carries the 401:\n%s", events)
	}

	// The fixed Secret is used at once (a Secret change ends the back-off).
	if _, err := st.Apply([]manifest.Object{regcred(host, user, goodPass)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() string {
		p := getPod(t, st, "default", "private")
		if cs := containerStatusOf(p, "app"); p.Status.Phase != corev1.PodRunning || cs == nil || cs.State.Running == nil {
			return fmt.Sprintf("not running: %+v", p.Status.ContainerStatuses)
		}
		return ""
	})
	events = podEvents(t, st, "private")
	if !strings.Contains(events, fmt.Sprintf("Normal Pulled Successfully pulled image %q in ", image)) {
		t.Errorf("no Pulled event:\n%s", events)
	}
	for _, secret := range []string{goodPass, badPass, base64.StdEncoding.EncodeToString([]byte(user + ":" + goodPass))} {
		if strings.Contains(events, secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("a secret value shows in events or logs")
		}
	}
}

// podEvents prints the events of pod name as "Type Reason Message" lines.
func podEvents(t *testing.T, st interface {
	List(kind, namespace string) ([]manifest.Object, error)
}, name string) string {
	t.Helper()
	objs, err := st.List(manifest.KindEvent, "")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range objs {
		if ev, ok := o.(*corev1.Event); ok && ev.InvolvedObject.Name == name {
			fmt.Fprintf(&b, "%s %s %s (x%d)\n", ev.Type, ev.Reason, ev.Message, ev.Count)
		}
	}
	return b.String()
}
