package volume

import (
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tug-dev/tug/nodeagent/podenv"
	corev1 "k8s.io/api/core/v1"
)

// Kind is the kind of a volume.
type Kind string

// Supported volume kinds.
const (
	EmptyDir    Kind = "emptyDir"
	ConfigMap   Kind = "configMap"
	Secret      Kind = "secret"
	DownwardAPI Kind = "downwardAPI"
	Projected   Kind = "projected"
	HostPath    Kind = "hostPath"
)

// Default file modes.
const (
	DefaultConfigMapMode fs.FileMode = 0o644
	DefaultSecretMode    fs.FileMode = 0o644
	DefaultDownwardMode  fs.FileMode = 0o644
	DefaultProjectedMode fs.FileMode = 0o644
)

// File is one file of a rendered volume.
type File struct {
	Path string // relative to the volume directory, slash-separated
	Data []byte
	Mode fs.FileMode
}

// Volume is one rendered volume of a pod.
type Volume struct {
	Name  string
	Kind  Kind
	Tmpfs bool   // mount a tmpfs on the volume directory
	Size  int64  // tmpfs size in bytes; 0 = the kernel's default
	Files []File // configMap, secret, downwardAPI and projected content, sorted by path

	// Host is a hostPath volume's path on the node and HostType its type
	// (corev1.HostPathType: "", DirectoryOrCreate, Directory, FileOrCreate,
	// File, Socket, CharDevice, BlockDevice), checked by Setup.
	Host     string
	HostType corev1.HostPathType
}

// Render computes the volumes of pod from the namespace's ConfigMaps and
// Secrets in src.
func Render(pod *corev1.Pod, src podenv.Sources) ([]Volume, error) {
	out := make([]Volume, 0, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		rv, err := render(pod, v, src)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out = append(out, rv)
	}
	return out, nil
}

func render(pod *corev1.Pod, v corev1.Volume, src podenv.Sources) (Volume, error) {
	switch {
	case v.EmptyDir != nil:
		rv := Volume{Name: v.Name, Kind: EmptyDir}
		switch v.EmptyDir.Medium {
		case corev1.StorageMediumDefault:
		case corev1.StorageMediumMemory:
			rv.Tmpfs = true
			if v.EmptyDir.SizeLimit != nil {
				rv.Size = v.EmptyDir.SizeLimit.Value()
			}
		default:
			return Volume{}, fmt.Errorf("emptyDir medium %q is not supported by tug", v.EmptyDir.Medium)
		}
		return rv, nil
	case v.HostPath != nil:
		if !filepath.IsAbs(v.HostPath.Path) {
			return Volume{}, fmt.Errorf("hostPath %q must be absolute", v.HostPath.Path)
		}
		var t corev1.HostPathType
		if v.HostPath.Type != nil {
			t = *v.HostPath.Type
		}
		switch t {
		case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
			corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev:
		default:
			return Volume{}, fmt.Errorf("hostPath type %q is not supported", t)
		}
		return Volume{Name: v.Name, Kind: HostPath, Host: filepath.Clean(v.HostPath.Path), HostType: t}, nil
	case v.ConfigMap != nil:
		rv := Volume{Name: v.Name, Kind: ConfigMap}
		files, err := configMapFiles(v.ConfigMap.Name, v.ConfigMap.Items, modeOr(v.ConfigMap.DefaultMode, DefaultConfigMapMode), optional(v.ConfigMap.Optional), src)
		rv.Files = files
		return rv, err
	case v.Secret != nil:
		rv := Volume{Name: v.Name, Kind: Secret, Tmpfs: true}
		files, err := secretFiles(v.Secret.SecretName, v.Secret.Items, modeOr(v.Secret.DefaultMode, DefaultSecretMode), optional(v.Secret.Optional), src)
		rv.Files = files
		return rv, err
	case v.DownwardAPI != nil:
		// On a tmpfs, as the kubelet does for downwardAPI volumes.
		rv := Volume{Name: v.Name, Kind: DownwardAPI, Tmpfs: true}
		files, err := downwardFiles(pod, v.DownwardAPI.Items, modeOr(v.DownwardAPI.DefaultMode, DefaultDownwardMode), src.Allocatable)
		rv.Files = files
		return rv, err
	case v.Projected != nil:
		rv := Volume{Name: v.Name, Kind: Projected, Tmpfs: true}
		mode := modeOr(v.Projected.DefaultMode, DefaultProjectedMode)
		seen := map[string]int{}
		for i, ps := range v.Projected.Sources {
			var files []File
			var err error
			switch {
			case ps.ConfigMap != nil:
				files, err = configMapFiles(ps.ConfigMap.Name, ps.ConfigMap.Items, mode, optional(ps.ConfigMap.Optional), src)
			case ps.Secret != nil:
				files, err = secretFiles(ps.Secret.Name, ps.Secret.Items, mode, optional(ps.Secret.Optional), src)
			case ps.DownwardAPI != nil:
				files, err = downwardFiles(pod, ps.DownwardAPI.Items, mode, src.Allocatable)
			default:
				err = fmt.Errorf("projected source is not supported by tug (supported: configMap, secret, downwardAPI)")
			}
			if err != nil {
				return Volume{}, fmt.Errorf("sources[%d]: %w", i, err)
			}
			for _, f := range files {
				if j, dup := seen[f.Path]; dup {
					return Volume{}, fmt.Errorf("sources[%d]: path %q is also projected by sources[%d]", i, f.Path, j)
				}
				seen[f.Path] = i
				rv.Files = append(rv.Files, f)
			}
		}
		slices.SortFunc(rv.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
		return rv, nil
	default:
		return Volume{}, fmt.Errorf("volume source is not supported by tug (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)")
	}
}

func configMapFiles(name string, items []corev1.KeyToPath, mode fs.FileMode, opt bool, src podenv.Sources) ([]File, error) {
	cm := src.ConfigMaps[name]
	if cm == nil {
		if opt {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	lookup := func(k string) ([]byte, bool) {
		if s, ok := cm.Data[k]; ok {
			return []byte(s), true
		}
		b, ok := cm.BinaryData[k]
		return b, ok
	}
	keys := slices.Sorted(maps.Keys(cm.Data))
	for k := range cm.BinaryData {
		if _, dup := cm.Data[k]; !dup {
			keys = append(keys, k)
		}
	}
	return project(keys, lookup, items, mode, opt, "configmap "+quote(name))
}

func secretFiles(name string, items []corev1.KeyToPath, mode fs.FileMode, opt bool, src podenv.Sources) ([]File, error) {
	s := src.Secrets[name]
	if s == nil {
		if opt {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	keys := slices.Sorted(maps.Keys(s.Data))
	for k := range s.StringData {
		if _, dup := s.Data[k]; !dup {
			keys = append(keys, k)
		}
	}
	lookup := func(k string) ([]byte, bool) { return podenv.SecretValue(s, k) }
	return project(keys, lookup, items, mode, opt, "secret "+quote(name))
}

// downwardFiles renders downwardAPI items. Whole label and annotation maps
// are written as the kubelet does: sorted key="value" lines (Go quoting).
// A resourceFieldRef must name its container (there is no "this
// container" in a volume) and resolves with podenv.ResourceValue: a limit
// the container does not set is the node's allocatable amount.
func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode fs.FileMode, allocatable corev1.ResourceList) ([]File, error) {
	var files []File
	for _, it := range items {
		var val string
		switch {
		case it.FieldRef != nil:
			switch fp := it.FieldRef.FieldPath; fp {
			case "metadata.labels":
				val = formatMap(pod.Labels)
			case "metadata.annotations":
				val = formatMap(pod.Annotations)
			case "metadata.name", "metadata.namespace", "metadata.uid":
				val, _ = podenv.FieldValue(pod, fp, podenv.Runtime{})
			default:
				if !strings.HasPrefix(fp, "metadata.labels['") && !strings.HasPrefix(fp, "metadata.annotations['") {
					return nil, fmt.Errorf("downwardAPI item %q: fieldRef %q is not supported in volumes", it.Path, fp)
				}
				v, err := podenv.FieldValue(pod, fp, podenv.Runtime{})
				if err != nil {
					return nil, fmt.Errorf("downwardAPI item %q: %w", it.Path, err)
				}
				val = v
			}
		case it.ResourceFieldRef != nil:
			if it.ResourceFieldRef.ContainerName == "" {
				return nil, fmt.Errorf("downwardAPI item %q: resourceFieldRef.containerName is required in volumes", it.Path)
			}
			v, err := podenv.ResourceValue(pod, nil, it.ResourceFieldRef, allocatable)
			if err != nil {
				return nil, fmt.Errorf("downwardAPI item %q: %w", it.Path, err)
			}
			val = v
		default:
			return nil, fmt.Errorf("downwardAPI item %q: fieldRef or resourceFieldRef is required", it.Path)
		}
		if err := checkRel(it.Path); err != nil {
			return nil, fmt.Errorf("downwardAPI: %w", err)
		}
		files = append(files, File{Path: it.Path, Data: []byte(val), Mode: modeOr(it.Mode, mode)})
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

func modeOr(p *int32, fallback fs.FileMode) fs.FileMode {
	if p == nil {
		return fallback
	}
	return fs.FileMode(*p) & fs.ModePerm
}

func project(keys []string, lookup func(string) ([]byte, bool), items []corev1.KeyToPath, mode fs.FileMode, opt bool, what string) ([]File, error) {
	var files []File
	if len(items) == 0 {
		for _, k := range keys {
			data, _ := lookup(k)
			files = append(files, File{Path: k, Data: data, Mode: mode})
		}
	} else {
		for _, it := range items {
			data, ok := lookup(it.Key)
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("key %q not found in %s", it.Key, what)
			}
			m := mode
			if it.Mode != nil {
				m = fs.FileMode(*it.Mode) & fs.ModePerm
			}
			files = append(files, File{Path: it.Path, Data: data, Mode: m})
		}
	}
	for _, f := range files {
		if err := checkRel(f.Path); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// checkRel refuses paths that are absolute or leave their directory.
func checkRel(p string) error {
	if p == "" || filepath.IsAbs(p) || !filepath.IsLocal(p) || strings.HasPrefix(p, "..") {
		return fmt.Errorf("path %q must be relative and stay inside the volume", p)
	}
	return nil
}

func optional(p *bool) bool { return p != nil && *p }

func quote(s string) string { return fmt.Sprintf("%q", s) }
