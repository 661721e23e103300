package images_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/internal/testenv"
	tugimages "github.com/tug-dev/tug/nodeagent/images"
)

// syncBuffer is a log sink safe for the importer's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageState is what the tests compare: name → digest, unpacked.
type imageState struct {
	Digest   string
	Unpacked bool
}

func listImages(t *testing.T, ctx context.Context, client *containerd.Client) map[string]imageState {
	t.Helper()
	imgs, err := client.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]imageState{}
	for _, img := range imgs {
		ok, err := img.IsUnpacked(ctx, tugimages.Snapshotter)
		if err != nil {
			t.Fatal(err)
		}
		out[img.Name()] = imageState{Digest: img.Target().Digest.String(), Unpacked: ok}
	}
	return out
}

func digestOf(t *testing.T, archive, ref string) string {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	// containerd rebuilds the manifest of a docker archive; the config
	// digest is what both share.
	return m.Config.Digest.String()
}

func configDigest(t *testing.T, ctx context.Context, client *containerd.Client, ref string) string {
	t.Helper()
	img, err := client.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Digest.String()
}

// writeOCIArchive writes img as an OCI layout tarball whose index names it
// refName.
func writeOCIArchive(t *testing.T, img v1.Image, refName, out string) {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName})); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportAll(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	v1Archive, v2Archive := testenv.HelloImages(t)
	ctx := ctrd.Context(t)
	dir := t.TempDir()
	copyFile(t, v1Archive, filepath.Join(dir, "hello-v1.tar"))
	copyFile(t, v2Archive, filepath.Join(dir, "hello-v2.tar"))
	if err := os.WriteFile(filepath.Join(dir, "broken.tar"), []byte("not an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, v1Archive, filepath.Join(dir, ".partial.tar")) // hidden: ignored
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An OCI archive of the v1 image under another name.
	tag := name.MustParseReference(testenv.HelloV1Ref).(name.Tag)
	v1img, err := tarball.ImageFromPath(v1Archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	writeOCIArchive(t, v1img, "tug.local/hello:oci", filepath.Join(dir, "hello-oci.tar"))

	var logs syncBuffer
	imp := &tugimages.Importer{Client: ctrd.Client, Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	err = imp.ImportAll(ctx)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "broken.tar")) {
		t.Errorf("ImportAll error = %v, want one naming broken.tar", err)
	}
	if err != nil && strings.Contains(err.Error(), "hello") {
		t.Errorf("ImportAll error mentions a good archive: %v", err)
	}
	got := listImages(t, ctx, ctrd.Client)
	for _, ref := range []string{testenv.HelloV1Ref, testenv.HelloV2Ref, "tug.local/hello:oci"} {
		if st, ok := got[ref]; !ok || !st.Unpacked {
			t.Errorf("image %s: %+v present %v, want present and unpacked", ref, st, ok)
		}
	}
	if len(got) != 3 {
		t.Errorf("images = %v, want exactly 3", got)
	}
	if c, want := configDigest(t, ctx, ctrd.Client, testenv.HelloV1Ref), digestOf(t, v1Archive, testenv.HelloV1Ref); c != want {
		t.Errorf("v1 config digest %s, want %s", c, want)
	}
	if c, want := configDigest(t, ctx, ctrd.Client, "tug.local/hello:oci"), digestOf(t, v1Archive, testenv.HelloV1Ref); c != want {
		t.Errorf("oci image config digest %s, want the v1 config %s", c, want)
	}

	// Unchanged archives are skipped: the images are not touched again.
	before, err := ctrd.Client.ImageService().Get(ctx, testenv.HelloV1Ref)
	if err != nil {
		t.Fatal(err)
	}
	_ = imp.ImportAll(ctx)
	after, err := ctrd.Client.ImageService().Get(ctx, testenv.HelloV1Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("unchanged archive re-imported (updated %v → %v)", before.UpdatedAt, after.UpdatedAt)
	}

	// An image deleted from containerd comes back although its archive
	// did not change.
	if err := ctrd.Client.ImageService().Delete(ctx, testenv.HelloV2Ref, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}
	_ = imp.ImportAll(ctx)
	if st := listImages(t, ctx, ctrd.Client)[testenv.HelloV2Ref]; !st.Unpacked {
		t.Errorf("deleted image not re-imported: %+v", st)
	}

	// A changed archive is imported again: hello-v1.tar now holds v2.
	copyFile(t, v2Archive, filepath.Join(dir, "hello-v1.tar"))
	_ = imp.ImportAll(ctx)
	if c, want := configDigest(t, ctx, ctrd.Client, testenv.HelloV2Ref), digestOf(t, v2Archive, testenv.HelloV2Ref); c != want {
		t.Errorf("v2 config digest %s, want %s", c, want)
	}
	if !strings.Contains(logs.String(), "imported image archive") {
		t.Errorf("no import logged:\n%s", logs.String())
	}
}

func TestImportAllMissingDir(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	imp := &tugimages.Importer{Client: ctrd.Client, Dir: filepath.Join(t.TempDir(), "nope")}
	if err := imp.ImportAll(ctrd.Context(t)); err != nil {
		t.Errorf("ImportAll on a missing dir = %v, want nil", err)
	}
}

func TestRunImportsNewArchives(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	v1Archive, v2Archive := testenv.HelloImages(t)
	ctx, cancel := context.WithCancel(ctrd.Context(t))
	defer cancel()
	dir := filepath.Join(t.TempDir(), "images") // Run creates it
	var logs syncBuffer
	imp := &tugimages.Importer{
		Client:   ctrd.Client,
		Dir:      dir,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		Debounce: 100 * time.Millisecond,
	}
	errc := make(chan error, 1)
	go func() { errc <- imp.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	present := func(ref string) func() bool {
		return func() bool {
			img, err := ctrd.Client.GetImage(ctx, ref)
			if err != nil {
				return false
			}
			ok, _ := img.IsUnpacked(ctx, tugimages.Snapshotter)
			return ok
		}
	}
	waitFor("the images dir", func() bool { _, err := os.Stat(dir); return err == nil })

	// Written under a hidden name, then renamed in.
	copyFile(t, v1Archive, filepath.Join(dir, ".hello-v1.tar.tmp"))
	if err := os.Rename(filepath.Join(dir, ".hello-v1.tar.tmp"), filepath.Join(dir, "hello-v1.tar")); err != nil {
		t.Fatal(err)
	}
	waitFor("v1 imported", present(testenv.HelloV1Ref))

	// A bad archive is logged and does not stop the loop.
	if err := os.WriteFile(filepath.Join(dir, "bad.tar"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("the bad archive logged", func() bool { return strings.Contains(logs.String(), "bad.tar") })

	// Written in place, slowly, in pieces.
	b, err := os.ReadFile(v2Archive)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "hello-v2.tar"))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(b); off += len(b)/4 + 1 {
		end := min(off+len(b)/4+1, len(b))
		if _, err := f.Write(b[off:end]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	f.Close()
	waitFor("v2 imported", present(testenv.HelloV2Ref))

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestEnsure(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	v1Archive, _ := testenv.HelloImages(t)
	ctx := ctrd.Context(t)

	// Imported but not unpacked: Ensure unpacks it.
	f, err := os.Open(v1Archive)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ctrd.Client.Import(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img, err := tugimages.Ensure(ctx, ctrd.Client, testenv.HelloV1Ref, corev1.PullIfNotPresent, nil)
	if err != nil {
		t.Fatalf("Ensure local image: %v", err)
	}
	if ok, _ := img.IsUnpacked(ctx, tugimages.Snapshotter); !ok || img.Name() != testenv.HelloV1Ref {
		t.Errorf("Ensure returned %s unpacked %v", img.Name(), ok)
	}
	// The default policy for a non-latest tag uses it too; so does Never.
	for _, p := range []corev1.PullPolicy{"", corev1.PullNever} {
		if _, err := tugimages.Ensure(ctx, ctrd.Client, testenv.HelloV1Ref, p, nil); err != nil {
			t.Errorf("Ensure with policy %q: %v", p, err)
		}
	}

	// Missing with Never, or unpullable: errors that name the image. The
	// registry address is a closed port on loopback.
	tests := []struct {
		ref     string
		policy  corev1.PullPolicy
		wantIs  error
		wantMsg string
	}{
		{"tug.local/nothing:v1", corev1.PullNever, tugimages.ErrImageNeverPull, `image "tug.local/nothing:v1" (tug.local/nothing:v1) is not on this node and imagePullPolicy is Never`},
		{"127.0.0.1:1/nothing:v1", corev1.PullIfNotPresent, tugimages.ErrImagePull, `image "127.0.0.1:1/nothing:v1" (127.0.0.1:1/nothing:v1) is not on this node and pulling it failed`},
		{"127.0.0.1:1/nothing", "", tugimages.ErrImagePull, `image "127.0.0.1:1/nothing" (127.0.0.1:1/nothing:latest): pull (imagePullPolicy Always)`},
	}
	for _, tt := range tests {
		_, err := tugimages.Ensure(ctx, ctrd.Client, tt.ref, tt.policy, nil)
		if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("Ensure(%s, %q) = %v, want %v containing %q", tt.ref, tt.policy, err, tt.wantIs, tt.wantMsg)
		}
	}
	if _, err := ctrd.Client.GetImage(ctx, "127.0.0.1:1/nothing:latest"); !errdefs.IsNotFound(err) {
		t.Errorf("failed pull left an image: %v", err)
	}
}

// TestEnsurePullsFromRegistry pulls through containerd from an in-process
// registry on 127.0.0.1. The image is pushed there by containerd itself and
// deleted locally before the pull.
func TestEnsurePullsFromRegistry(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	v1Archive, _ := testenv.HelloImages(t)
	ctx := ctrd.Context(t)

	var manifestGets atomic.Int32
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
			manifestGets.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/hello:pulled"

	f, err := os.Open(v1Archive)
	if err != nil {
		t.Fatal(err)
	}
	imported, err := ctrd.Client.Import(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := imported[0].Target
	if err := ctrd.Client.Push(ctx, ref, want); err != nil {
		t.Fatalf("push to test registry: %v", err)
	}
	if err := ctrd.Client.ImageService().Delete(ctx, imported[0].Name, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}
	if _, err := ctrd.Client.ContentStore().Info(ctx, want.Digest); !errdefs.IsNotFound(err) {
		t.Fatalf("content %s still present after delete: %v", want.Digest, err)
	}

	got, err := tugimages.Ensure(ctx, ctrd.Client, ref, corev1.PullAlways, nil)
	if err != nil {
		t.Fatalf("Ensure pull: %v", err)
	}
	ok, _ := got.IsUnpacked(ctx, tugimages.Snapshotter)
	if diff := cmp.Diff(map[string]any{"name": ref, "digest": want.Digest.String(), "unpacked": true},
		map[string]any{"name": got.Name(), "digest": got.Target().Digest.String(), "unpacked": ok}); diff != "" {
		t.Errorf("pulled image (-want +got):\n%s", diff)
	}
	if manifestGets.Load() == 0 {
		t.Errorf("the registry served no manifest")
	}

	// IfNotPresent now finds it locally even with the registry gone.
	srv.Close()
	if _, err := tugimages.Ensure(ctx, ctrd.Client, ref, corev1.PullIfNotPresent, nil); err != nil {
		t.Errorf("Ensure IfNotPresent after the registry stopped: %v", err)
	}
	// Always does not fall back to the local copy.
	if _, err := tugimages.Ensure(ctx, ctrd.Client, ref, corev1.PullAlways, nil); !errors.Is(err, tugimages.ErrImagePull) {
		t.Errorf("Ensure Always with the registry stopped = %v, want ErrImagePull", err)
	}
}

// TestImportAllConcurrent imports three archives two at a time; Importing
// reports an archive that is new or changed until it is imported, and a
// touched but unchanged archive is hashed, not imported again.
func TestImportAllConcurrent(t *testing.T) {
	ctrd := testenv.StartContainerd(t, "")
	v1Archive, v2Archive := testenv.HelloImages(t)
	ctx := ctrd.Context(t)
	dir := t.TempDir()
	imp := &tugimages.Importer{Client: ctrd.Client, Dir: dir, Concurrency: 2}
	if imp.Importing() {
		t.Error("Importing with no archives")
	}
	copyFile(t, v1Archive, filepath.Join(dir, "a.tar"))
	copyFile(t, v2Archive, filepath.Join(dir, "b.tar"))
	tag := name.MustParseReference(testenv.HelloV1Ref).(name.Tag)
	v1img, err := tarball.ImageFromPath(v1Archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	writeOCIArchive(t, v1img, "tug.local/hello:oci", filepath.Join(dir, "c.tar"))
	if !imp.Importing() {
		t.Error("not Importing with three new archives")
	}
	if err := imp.ImportAll(ctx); err != nil {
		t.Fatal(err)
	}
	got := listImages(t, ctx, ctrd.Client)
	for _, ref := range []string{testenv.HelloV1Ref, testenv.HelloV2Ref, "tug.local/hello:oci"} {
		if st, ok := got[ref]; !ok || !st.Unpacked {
			t.Errorf("image %s: %+v present %v, want present and unpacked", ref, st, ok)
		}
	}
	if imp.Importing() {
		t.Error("Importing after everything was imported")
	}

	before, err := ctrd.Client.ImageService().Get(ctx, testenv.HelloV1Ref)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "a.tar"), later, later); err != nil {
		t.Fatal(err)
	}
	if !imp.Importing() {
		t.Error("not Importing with a touched archive")
	}
	if err := imp.ImportAll(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := ctrd.Client.ImageService().Get(ctx, testenv.HelloV1Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("touched but unchanged archive re-imported (updated %v → %v)", before.UpdatedAt, after.UpdatedAt)
	}
	if imp.Importing() {
		t.Error("Importing after the touched archive was checked")
	}

	// A broken archive is not waited for once its import failed.
	if err := os.WriteFile(filepath.Join(dir, "broken.tar"), []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := imp.ImportAll(ctx); err == nil {
		t.Error("broken archive imported")
	}
	if imp.Importing() {
		t.Error("Importing waits for an archive that failed")
	}
}
