package pack

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func writeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type tarEntry struct {
	Name    string
	Type    byte
	Mode    int64
	UID     int
	GID     int
	ModTime time.Time
	Body    string
}

func layerEntries(t *testing.T, img v1.Image) []tarEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []tarEntry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.UTC(), string(b)})
	}
	return out
}

func TestImageContent(t *testing.T) {
	bin := writeBinary(t, "#!fake binary")
	tests := []struct {
		name        string
		spec        Spec
		wantConfig  v1.Config
		wantArch    string
		wantEntries []string // name:mode
	}{
		{
			name: "defaults",
			spec: Spec{Binary: bin},
			wantConfig: v1.Config{
				Entrypoint:   []string{"/hello"},
				Env:          []string{"PATH=" + defaultPath, "PORT=8080"},
				ExposedPorts: map[string]struct{}{"8080/tcp": {}},
				WorkingDir:   "/",
				User:         "0",
			},
			wantArch:    "amd64",
			wantEntries: []string{"etc/:755", "etc/group:644", "etc/passwd:644", "hello:755", "tmp/:1777"},
		},
		{
			name: "nested path, port, env, arch",
			spec: Spec{Binary: bin, Path: "/usr/local/bin/app", Port: 9090, Env: []string{"A=b"}, Arch: "arm64"},
			wantConfig: v1.Config{
				Entrypoint:   []string{"/usr/local/bin/app"},
				Env:          []string{"PATH=" + defaultPath, "PORT=9090", "A=b"},
				ExposedPorts: map[string]struct{}{"9090/tcp": {}},
				WorkingDir:   "/",
				User:         "0",
			},
			wantArch: "arm64",
			wantEntries: []string{"etc/:755", "etc/group:644", "etc/passwd:644", "tmp/:1777",
				"usr/:755", "usr/local/:755", "usr/local/bin/:755", "usr/local/bin/app:755"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Image(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantConfig, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if cf.OS != "linux" || cf.Architecture != tt.wantArch {
				t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, tt.wantArch)
			}
			if !cf.Created.Time.Equal(epoch) {
				t.Errorf("created = %v, want epoch", cf.Created)
			}
			var got []string
			for _, e := range layerEntries(t, img) {
				got = append(got, fmt.Sprintf("%s:%o", e.Name, e.Mode))
				if e.UID != 0 || e.GID != 0 || !e.ModTime.Equal(epoch) {
					t.Errorf("%s: uid %d gid %d mtime %v, want 0 0 epoch", e.Name, e.UID, e.GID, e.ModTime)
				}
				switch e.Name {
				case "etc/passwd":
					if !strings.Contains(e.Body, "nobody:x:65534:65534:") || !strings.HasPrefix(e.Body, "root:x:0:0:") {
						t.Errorf("passwd = %q", e.Body)
					}
				case "etc/group":
					if !strings.Contains(e.Body, "nobody:x:65534:") || !strings.HasPrefix(e.Body, "root:x:0:") {
						t.Errorf("group = %q", e.Body)
					}
				case strings.TrimPrefix(tt.wantConfig.Entrypoint[0], "/"):
					if e.Body != "#!fake binary" {
						t.Errorf("binary body = %q", e.Body)
					}
				}
			}
			if diff := cmp.Diff(tt.wantEntries, got); diff != "" {
				t.Errorf("layer entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecErrors(t *testing.T) {
	bin := writeBinary(t, "x")
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no binary", Spec{}, "no binary given"},
		{"missing binary", Spec{Binary: filepath.Join(t.TempDir(), "nope")}, "read binary"},
		{"relative path", Spec{Binary: bin, Path: "hello"}, "clean absolute"},
		{"root path", Spec{Binary: bin, Path: "/"}, "clean absolute"},
		{"unclean path", Spec{Binary: bin, Path: "/a/../hello"}, "clean absolute"},
		{"clash with passwd", Spec{Binary: bin, Path: "/etc/passwd"}, "clashes"},
		{"under passwd", Spec{Binary: bin, Path: "/etc/passwd/x"}, "under the file /etc/passwd"},
		{"bad port", Spec{Binary: bin, Port: 70000}, "out of range"},
		{"bad env", Spec{Binary: bin, Env: []string{"NOVALUE"}}, "not KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Image(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Image() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWriteArchiveDeterministicAndIdempotent(t *testing.T) {
	bin := writeBinary(t, "binary v1")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "sub", "b.tar")

	ra, err := WriteArchive(a, "tug.local/hello:v1", Spec{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := WriteArchive(b, "tug.local/hello:v1", Spec{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if !ra.Changed || !rb.Changed {
		t.Errorf("first writes: changed = %v, %v, want true, true", ra.Changed, rb.Changed)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if string(ba) != string(bb) {
		t.Errorf("two builds of the same input differ")
	}
	if ra.Digest != rb.Digest || !strings.HasPrefix(ra.Digest, "sha256:") {
		t.Errorf("digests %q and %q, want equal sha256 digests", ra.Digest, rb.Digest)
	}

	// Unchanged: the file is not rewritten.
	old := time.Unix(1000, 0)
	if err := os.Chtimes(a, old, old); err != nil {
		t.Fatal(err)
	}
	again, err := WriteArchive(a, "tug.local/hello:v1", Spec{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed || again.Digest != ra.Digest {
		t.Errorf("rewrite of same input: %+v, want unchanged %s", again, ra.Digest)
	}
	if fi, _ := os.Stat(a); !fi.ModTime().Equal(old) {
		t.Errorf("unchanged archive was rewritten (mtime %v)", fi.ModTime())
	}

	// A different tag or binary changes the file.
	v2, err := WriteArchive(a, "tug.local/hello:v2", Spec{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if !v2.Changed || v2.Digest != ra.Digest {
		t.Errorf("retag: %+v, want changed with the same image digest %s", v2, ra.Digest)
	}
	bin2 := writeBinary(t, "binary v2")
	r3, err := WriteArchive(a, "tug.local/hello:v2", Spec{Binary: bin2})
	if err != nil {
		t.Fatal(err)
	}
	if !r3.Changed || r3.Digest == ra.Digest {
		t.Errorf("new binary: %+v, want changed with a new digest", r3)
	}

	// The archive reads back with its tag, and no temporary file is left.
	tag, _ := name.NewTag("tug.local/hello:v2")
	img, err := tarball.ImageFromPath(a, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != r3.Digest {
		t.Errorf("read back digest %s, want %s", d, r3.Digest)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteArchiveBadRef(t *testing.T) {
	bin := writeBinary(t, "x")
	_, err := WriteArchive(filepath.Join(t.TempDir(), "x.tar"), "Not A Ref", Spec{Binary: bin})
	if err == nil || !strings.Contains(err.Error(), `image reference "Not A Ref"`) {
		t.Fatalf("error = %v, want a bad reference error", err)
	}
}
