package images

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	cimages "github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tug-dev/tug/internal/testenv"
	corev1 "k8s.io/api/core/v1"
)

// TestPullWithCredentials pulls from a registry on 127.0.0.1 behind basic
// auth: wrong credentials fail with the registry's 401, naming the
// credentials' secret but not the password; the right ones, tried after
// the wrong ones, work; progress reports bytes within the total, which the
// tracker finds complete once the pull is done.
func TestPullWithCredentials(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	v1Archive, _ := testenv.HelloImages(t)
	ctx := ctrd.Context(t)
	const user, pass = "puller", "right-pass-1234"
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/team/hello:v1"

	f, err := os.Open(v1Archive)
	if err != nil {
		t.Fatal(err)
	}
	imported, err := ctrd.Client.Import(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(docker.MatchLocalhost),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(func(string) (string, string, error) { return user, pass, nil }))),
	)})
	if err := ctrd.Client.Push(ctx, ref, imported[0].Target, containerd.WithResolver(resolver)); err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := ctrd.Client.ImageService().Delete(ctx, imported[0].Name, cimages.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}

	wrong := Auth{Username: user, Password: "wrong-pass-9876", Source: "ns/bad"}
	_, err = EnsureWith(ctx, ctrd.Client, ref, corev1.PullIfNotPresent, PullOptions{Auths: []Auth{wrong}}, nil)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "ns/bad") || strings.Contains(err.Error(), wrong.Password) {
		t.Fatalf("pull with the wrong password: %v; want the 401, naming ns/bad, without the password", err)
	}

	var mu sync.Mutex
	var reports [][2]int64
	pulling := false
	res, err := EnsureWith(ctx, ctrd.Client, ref, corev1.PullIfNotPresent, PullOptions{
		Auths:         []Auth{wrong, {Username: user, Password: pass, Source: "ns/good"}},
		ProgressEvery: time.Millisecond,
		Progress: func(done, total int64) {
			mu.Lock()
			reports = append(reports, [2]int64{done, total})
			mu.Unlock()
		},
		Pulling: func() { pulling = true },
	}, nil)
	if err != nil {
		t.Fatalf("pull with the right password second: %v", err)
	}
	if !res.Pulled || !pulling || res.Pull.Size <= 0 || res.Image.Target().Digest != imported[0].Target.Digest {
		t.Errorf("result %+v (Pulling called %v), want a pull of %s", res, pulling, imported[0].Target.Digest)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range reports {
		if r[0] < 0 || r[0] > r[1] {
			t.Errorf("progress %d of %d", r[0], r[1])
		}
	}
	t.Logf("%d progress reports, pulled %d bytes in %s", len(reports), res.Pull.Size, res.Pull.Took)

	// The tracker counts fetched content as done.
	tr := &progressTracker{seen: map[string]ocispec.Descriptor{}}
	_, _ = tr.handle(context.Background(), imported[0].Target)
	if done, total := tr.progress(ctx, ctrd.Client.ContentStore()); done != total || total != imported[0].Target.Size {
		t.Errorf("progress of a present manifest: %d of %d, want %d of %d", done, total, imported[0].Target.Size, imported[0].Target.Size)
	}
}
