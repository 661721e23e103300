package pack

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the timestamp of every file, history entry and the image config;
// it is never modified.
var epoch = time.Unix(0, 0).UTC()

// Spec describes the image to build.
type Spec struct {
	Binary string   // path of the static binary on the build machine (required)
	Path   string   // where the binary lives in the image and the entrypoint; default "/hello"
	Port   int      // TCP port exposed and set as PORT in the environment; default 8080
	Env    []string // extra KEY=value entries appended to the image environment
	Arch   string   // GOARCH of the binary; default "amd64"
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
	"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"

const group = "root:x:0:\n" +
	"nobody:x:65534:\n"

func (s Spec) withDefaults() (Spec, error) {
	if s.Binary == "" {
		return s, errors.New("pack: no binary given")
	}
	if s.Path == "" {
		s.Path = "/hello"
	}
	if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path || s.Path == "/" {
		return s, fmt.Errorf("pack: image path %q must be a clean absolute file path", s.Path)
	}
	if s.Port == 0 {
		s.Port = 8080
	}
	if s.Port < 1 || s.Port > 65535 {
		return s, fmt.Errorf("pack: port %d out of range 1-65535", s.Port)
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return s, fmt.Errorf("pack: environment entry %q is not KEY=value", kv)
		}
	}
	return s, nil
}

// Image builds the image described by s.
func Image(s Spec) (v1.Image, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("pack: read binary: %w", err)
	}
	layerTar, err := layerTar(s.Path, bin)
	if err != nil {
		return nil, fmt.Errorf("pack: build layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("pack: layer: %w", err)
	}

	port := strconv.Itoa(s.Port)
	cfg := &v1.ConfigFile{
		Architecture: s.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config: v1.Config{
			Entrypoint:   []string{s.Path},
			Env:          append([]string{"PATH=" + defaultPath, "PORT=" + port}, s.Env...),
			ExposedPorts: map[string]struct{}{port + "/tcp": {}},
			WorkingDir:   "/",
			User:         "0",
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("pack: config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: epoch},
			CreatedBy: "tug mkimage " + s.Path,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pack: append layer: %w", err)
	}
	return img, nil
}

// layerTar returns the uncompressed layer: /etc, /tmp and the binary at
// binPath, with parent directories, all owned by root and stamped with the
// epoch.
func layerTar(binPath string, bin []byte) ([]byte, error) {
	type entry struct {
		hdr  tar.Header
		body []byte
	}
	dir := func(name string, mode int64) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}}
	}
	file := func(name string, mode int64, body []byte) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}, body: body}
	}
	entries := map[string]entry{
		"etc":        dir("etc", 0o755),
		"etc/passwd": file("etc/passwd", 0o644, []byte(passwd)),
		"etc/group":  file("etc/group", 0o644, []byte(group)),
		"tmp":        dir("tmp", 0o1777),
	}
	rel := strings.TrimPrefix(binPath, "/")
	if _, clash := entries[rel]; clash {
		return nil, fmt.Errorf("binary path %s clashes with a file the image needs", binPath)
	}
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if e, ok := entries[d]; ok && e.hdr.Typeflag != tar.TypeDir {
			return nil, fmt.Errorf("binary path %s is under the file /%s", binPath, d)
		}
		if _, ok := entries[d]; !ok {
			entries[d] = dir(d, 0o755)
		}
	}
	entries[rel] = file(rel, 0o755, bin)

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.ModTime = epoch
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, fmt.Errorf("write %s: %w", n, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("write %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Result tells what WriteArchive did.
type Result struct {
	Digest  string // manifest digest of the image, "sha256:..."
	Changed bool   // false when the file already had exactly these bytes
}

// WriteArchive builds the image described by s and writes it to out as a
// docker-format archive tagged ref (for example "tug.local/hello:v1").
// The file is replaced atomically, and only when its content changes.
func WriteArchive(out, ref string, s Spec) (Result, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return Result{}, fmt.Errorf("pack: image reference %q: %w", ref, err)
	}
	img, err := Image(s)
	if err != nil {
		return Result{}, err
	}
	dgst, err := img.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("pack: image digest: %w", err)
	}
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		return Result{}, fmt.Errorf("pack: write archive for %s: %w", ref, err)
	}
	res := Result{Digest: dgst.String()}
	if old, err := fileSHA256(out); err == nil && old == sha256.Sum256(buf.Bytes()) {
		return res, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("pack: read existing %s: %w", out, err)
	}
	if err := writeAtomic(out, buf.Bytes()); err != nil {
		return Result{}, fmt.Errorf("pack: %w", err)
	}
	res.Changed = true
	return res, nil
}

func fileSHA256(p string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// writeAtomic writes data to a hidden temporary file next to p and renames
// it over p, so readers never see a partial archive.
func writeAtomic(p string, data []byte) error {
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", p, err)
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
