package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/fsnotify/fsnotify"

	"github.com/tug-dev/tug/nodeagent/containerdproc"
)

const (
	markerDir        = ".imported"
	defaultDebounce  = 500 * time.Millisecond
	defaultPerImport = 5 * time.Minute
)

// Importer imports the image archives of one directory into containerd.
type Importer struct {
	Client    *containerd.Client
	Dir       string       // e.g. <data-dir>/images
	Namespace string       // default "tug"
	Logger    *slog.Logger // default: discard

	// Debounce is how long Run waits after the last change in Dir before
	// importing; default 500 ms.
	Debounce time.Duration
	// Timeout bounds the import of one archive; default 5 min.
	Timeout time.Duration
	// Concurrency is how many archives are imported at once; default 2.
	Concurrency int

	inflight atomic.Int32
	mu       sync.Mutex
	failed   map[string]stamp // archives whose last import failed, as they were then
}

// stamp identifies an archive's content cheaply: size and modification time.
type stamp struct {
	Size    int64
	ModTime time.Time
}

func stampOf(fi fs.FileInfo) stamp { return stamp{Size: fi.Size(), ModTime: fi.ModTime().UTC()} }

// marker records what an archive produced when it was imported.
type marker struct {
	SHA256  string        `json:"sha256"`
	Images  []markerImage `json:"images"`
	Time    time.Time     `json:"time"`
	Size    int64         `json:"size,omitempty"`
	ModTime time.Time     `json:"modTime,omitzero"`
}

type markerImage struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

func (i *Importer) log() *slog.Logger {
	if i.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return i.Logger
}

func (i *Importer) ctx(ctx context.Context) context.Context {
	ns := i.Namespace
	if ns == "" {
		ns = containerdproc.Namespace
	}
	return namespaces.WithNamespace(ctx, ns)
}

// isArchive tells whether a file name in Dir is an archive to import.
func isArchive(name string) bool {
	return strings.HasSuffix(name, ".tar") && !strings.HasPrefix(name, ".") && !strings.ContainsRune(name, filepath.Separator)
}

// ImportAll imports every archive in Dir that is new or changed since it was
// last imported. A missing Dir holds no archives. It tries every archive and
// returns the errors of those that failed, each naming its file.
func (i *Importer) ImportAll(ctx context.Context) error {
	entries, err := os.ReadDir(i.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("images dir %s: %w", i.Dir, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isArchive(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return i.importNames(ctx, names)
}

// importNames imports the archives names, Concurrency at a time, and joins
// their errors in the order of names.
func (i *Importer) importNames(ctx context.Context, names []string) error {
	i.inflight.Add(1)
	defer i.inflight.Add(-1)
	n := i.Concurrency
	if n <= 0 {
		n = 2
	}
	sem := make(chan struct{}, n)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for k, name := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[k] = i.importArchive(ctx, name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Importing tells whether an import runs, or an archive in Dir waits for
// one: it is new or changed (size or modification time) since its last
// import, which did not fail. The agent holds back a container whose image
// is missing meanwhile instead of pulling it.
func (i *Importer) Importing() bool {
	if i.inflight.Load() > 0 {
		return true
	}
	entries, err := os.ReadDir(i.Dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() || !isArchive(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		st := stampOf(fi)
		if m, err := i.readMarker(e.Name()); err == nil && m.Size == st.Size && m.ModTime.Equal(st.ModTime) {
			continue
		}
		i.mu.Lock()
		f, failed := i.failed[e.Name()]
		i.mu.Unlock()
		if failed && f == st {
			continue
		}
		return true
	}
	return false
}

func (i *Importer) setFailed(name string, st stamp, failed bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.failed == nil {
		i.failed = map[string]stamp{}
	}
	if failed {
		i.failed[name] = st
	} else {
		delete(i.failed, name)
	}
}

// importArchive imports Dir/name unless its marker shows it is already in:
// the same size and modification time (no hashing), or the same sha256.
func (i *Importer) importArchive(ctx context.Context, name string) (err error) {
	i.inflight.Add(1)
	defer i.inflight.Add(-1)
	path := filepath.Join(i.Dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("image archive %s: %w", path, err)
	}
	st := stampOf(fi)
	defer func() { i.setFailed(name, st, err != nil) }()
	timeout := i.Timeout
	if timeout == 0 {
		timeout = defaultPerImport
	}
	ctx, cancel := context.WithTimeout(i.ctx(ctx), timeout)
	defer cancel()

	m, merr := i.readMarker(name)
	if merr == nil && m.Size == st.Size && m.ModTime.Equal(st.ModTime) {
		current, err := i.imagesCurrent(ctx, m.Images)
		if err != nil {
			return fmt.Errorf("image archive %s: %w", path, err)
		}
		if current {
			i.log().Debug("image archive unchanged (size and mtime)", "archive", path)
			return nil
		}
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return fmt.Errorf("image archive %s: %w", path, err)
	}
	if merr == nil && m.SHA256 == sum {
		current, err := i.imagesCurrent(ctx, m.Images)
		if err != nil {
			return fmt.Errorf("image archive %s: %w", path, err)
		}
		if current {
			i.log().Debug("image archive already imported", "archive", path, "sha256", sum)
			m.Size, m.ModTime = st.Size, st.ModTime // touched, not changed
			if err := i.writeMarker(name, m); err != nil {
				return fmt.Errorf("image archive %s: %w", path, err)
			}
			return nil
		}
	}

	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image archive %s: %w", path, err)
	}
	defer f.Close()
	// The hash was taken from this same file; a writer that replaces it by
	// rename meanwhile only causes one more import on its event.
	imgs, err := i.Client.Import(ctx, f, containerd.WithImageRefTranslator(ociRefName))
	if errdefs.IsAlreadyExists(err) {
		// Another archive naming the same image created it between this
		// import's update and create: once more, as an update.
		if _, serr := f.Seek(0, io.SeekStart); serr == nil {
			imgs, err = i.Client.Import(ctx, f, containerd.WithImageRefTranslator(ociRefName))
		}
	}
	if err != nil {
		return fmt.Errorf("image archive %s: import: %w", path, err)
	}
	if len(imgs) == 0 {
		return fmt.Errorf("image archive %s: names no image (docker archives need RepoTags, OCI archives an org.opencontainers.image.ref.name annotation)", path)
	}
	m = marker{SHA256: sum, Time: start.UTC(), Size: st.Size, ModTime: st.ModTime}
	for _, img := range imgs {
		if err := unpack(ctx, containerd.NewImage(i.Client, img)); err != nil {
			return fmt.Errorf("image archive %s: image %s: %w", path, img.Name, err)
		}
		m.Images = append(m.Images, markerImage{Name: img.Name, Digest: img.Target.Digest.String()})
	}
	if err := i.writeMarker(name, m); err != nil {
		return fmt.Errorf("image archive %s: %w", path, err)
	}
	names := make([]string, len(m.Images))
	for k, im := range m.Images {
		names[k] = im.Name + "@" + im.Digest
	}
	i.log().Info("imported image archive", "archive", path, "images", names, "duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// imagesCurrent tells whether every image still exists with the recorded
// digest and is unpacked.
func (i *Importer) imagesCurrent(ctx context.Context, recorded []markerImage) (bool, error) {
	if len(recorded) == 0 {
		return false, nil
	}
	for _, r := range recorded {
		img, err := i.Client.GetImage(ctx, r.Name)
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("look up image %s: %w", r.Name, err)
		}
		if img.Target().Digest.String() != r.Digest {
			return false, nil
		}
		ok, err := img.IsUnpacked(ctx, Snapshotter)
		if err != nil || !ok {
			return false, nil
		}
	}
	return true, nil
}

func (i *Importer) markerPath(name string) string {
	return filepath.Join(i.Dir, markerDir, name+".json")
}

func (i *Importer) readMarker(name string) (marker, error) {
	var m marker
	b, err := os.ReadFile(i.markerPath(name))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(b, &m)
	return m, err
}

func (i *Importer) writeMarker(name string, m marker) error {
	p := i.markerPath(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write import marker: %w", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write import marker: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write import marker: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write import marker: %w", err)
	}
	return nil
}

// ociRefName turns the org.opencontainers.image.ref.name annotation of an
// OCI archive into an image name: a full reference is normalized, a bare tag
// ("v1") or anything else that is not a reference gives no name.
func ociRefName(ref string) string {
	if !strings.ContainsAny(ref, "/:@") {
		return ""
	}
	name, err := Normalize(ref)
	if err != nil {
		return ""
	}
	return name
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Run creates Dir if needed, imports what it holds, then imports archives
// again as they are created, renamed into Dir or written, once Dir has been
// quiet for Debounce. Failures are logged and never stop the loop. Run
// returns nil when ctx ends, or an error if Dir cannot be watched.
func (i *Importer) Run(ctx context.Context) error {
	log := i.log().With("dir", i.Dir)
	if err := os.MkdirAll(i.Dir, 0o755); err != nil {
		return fmt.Errorf("images dir %s: %w", i.Dir, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("images dir %s: watch: %w", i.Dir, err)
	}
	defer w.Close()
	// Watch before the first pass, so nothing written during it is missed.
	if err := w.Add(i.Dir); err != nil {
		return fmt.Errorf("images dir %s: watch: %w", i.Dir, err)
	}
	if err := i.ImportAll(ctx); err != nil {
		log.Error("importing image archives", "err", err)
	}

	debounce := i.Debounce
	if debounce == 0 {
		debounce = defaultDebounce
	}
	timer := time.NewTimer(debounce)
	timer.Stop()
	pending := map[string]bool{}
	rescan := false // events were lost: look at every archive
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("images dir %s: watcher closed", i.Dir)
			}
			log.Warn("watching images dir", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				rescan = true
				timer.Reset(debounce)
			}
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("images dir %s: watcher closed", i.Dir)
			}
			name := filepath.Base(ev.Name)
			if !isArchive(name) || !ev.Has(fsnotify.Create|fsnotify.Write|fsnotify.Rename|fsnotify.Chmod) {
				continue
			}
			pending[name] = true
			timer.Reset(debounce)
		case <-timer.C:
			names := make([]string, 0, len(pending))
			for n := range pending {
				names = append(names, n)
			}
			clear(pending)
			slices.Sort(names)
			if rescan {
				rescan = false
				if err := i.ImportAll(ctx); err != nil {
					log.Error("importing image archives", "err", err)
				}
				continue
			}
			// A rename event names the old path; only files still there
			// are imported.
			var present []string
			for _, n := range names {
				if _, err := os.Stat(filepath.Join(i.Dir, n)); err == nil {
					present = append(present, n)
				}
			}
			if err := i.importNames(ctx, present); err != nil {
				log.Error("importing image archives", "err", err)
			}
		}
	}
}
