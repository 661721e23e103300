package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tug-dev/tug/examples/mkimage/pack"
)

// References of the demo images HelloImages builds.
const (
	HelloV1Ref = "tug.local/hello:v1"
	HelloV2Ref = "tug.local/hello:v2"
)

var (
	helloOnce   sync.Once
	helloV1     string
	helloV2     string
	helloErr    error
	helloNoTool bool // the go command is missing: a prerequisite, not a bug
)

// HelloImages returns the paths of the docker-format archives of
// tug.local/hello:v1 and :v2, built as scripts/images.sh builds them: the
// demo app compiled with CGO_ENABLED=0, -trimpath, -buildvcs=false, stripped,
// main.version set to v1 or v2, packed by examples/mkimage/pack. They are
// built at most once per test binary and cached across test binaries under
// $TMPDIR/tug-hello-images/<hash of the sources and Go version>.
func HelloImages(t testing.TB) (v1, v2 string) {
	t.Helper()
	helloOnce.Do(func() {
		helloV1, helloV2, helloErr = buildHelloImages()
	})
	if helloNoTool {
		unavailable(t, "build hello images: %v", helloErr)
	}
	if helloErr != nil {
		t.Fatalf("build hello images: %v", helloErr)
	}
	return helloV1, helloV2
}

func buildHelloImages() (v1, v2 string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	key, err := helloSourceKey(root)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(os.TempDir(), "tug-hello-images", key)
	paths := map[string]string{"v1": filepath.Join(dir, "hello-v1.tar"), "v2": filepath.Join(dir, "hello-v2.tar")}
	if exists(paths["v1"]) && exists(paths["v2"]) {
		return paths["v1"], paths["v2"], nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		helloNoTool = true
		return "", "", fmt.Errorf("the go command is needed to build the demo app: %w", err)
	}
	work, err := os.MkdirTemp("", "tug-hello-build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	for _, v := range []string{"v1", "v2"} {
		bin := filepath.Join(work, "hello-"+v)
		cmd := exec.Command(goBin, "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X main.version="+v, "-o", bin, "./examples/hello/app")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build hello %s: %w\n%s", v, err, out)
		}
		ref := "tug.local/hello:" + v
		if _, err := pack.WriteArchive(paths[v], ref, pack.Spec{Binary: bin, Path: "/hello", Port: 8080}); err != nil {
			return "", "", fmt.Errorf("pack %s: %w", ref, err)
		}
	}
	return paths["v1"], paths["v2"], nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// moduleRoot finds the directory of tug's go.mod above the working
// directory (a test runs in its package directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/tug-dev/tug\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of github.com/tug-dev/tug not found above the working directory")
		}
		dir = parent
	}
}

// helloSourceKey hashes what the archives depend on: the app and packer
// sources, go.mod, go.sum and the Go version.
func helloSourceKey(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), "linux/amd64", "hello-images-v1")
	var files []string
	for _, d := range []string{"examples/hello/app", "examples/mkimage/pack"} {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("hash hello sources: %w", err)
		}
	}
	files = append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	slices.Sort(files)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("hash hello sources: %w", err)
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\n", rel)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash hello sources: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}
