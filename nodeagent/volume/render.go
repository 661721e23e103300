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
	EmptyDir  Kind = "emptyDir"
	ConfigMap Kind = "configMap"
	Secret    Kind = "secret"
)

// Default file modes.
const (
	DefaultConfigMapMode fs.FileMode = 0o644
	DefaultSecretMode    fs.FileMode = 0o644
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
	Files []File // configMap and secret content, sorted by path
}

// Render computes the volumes of pod from the namespace's ConfigMaps and
// Secrets in src.
func Render(pod *corev1.Pod, src podenv.Sources) ([]Volume, error) {
	out := make([]Volume, 0, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		rv, err := render(v, src)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out = append(out, rv)
	}
	return out, nil
}

func render(v corev1.Volume, src podenv.Sources) (Volume, error) {
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
	case v.ConfigMap != nil:
		cm := src.ConfigMaps[v.ConfigMap.Name]
		rv := Volume{Name: v.Name, Kind: ConfigMap}
		if cm == nil {
			if optional(v.ConfigMap.Optional) {
				return rv, nil
			}
			return Volume{}, fmt.Errorf("configmap %q not found", v.ConfigMap.Name)
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
		files, err := project(keys, lookup, v.ConfigMap.Items, v.ConfigMap.DefaultMode, DefaultConfigMapMode,
			optional(v.ConfigMap.Optional), "configmap "+quote(v.ConfigMap.Name))
		rv.Files = files
		return rv, err
	case v.Secret != nil:
		s := src.Secrets[v.Secret.SecretName]
		rv := Volume{Name: v.Name, Kind: Secret, Tmpfs: true}
		if s == nil {
			if optional(v.Secret.Optional) {
				return rv, nil
			}
			return Volume{}, fmt.Errorf("secret %q not found", v.Secret.SecretName)
		}
		keys := slices.Sorted(maps.Keys(s.Data))
		for k := range s.StringData {
			if _, dup := s.Data[k]; !dup {
				keys = append(keys, k)
			}
		}
		lookup := func(k string) ([]byte, bool) { return podenv.SecretValue(s, k) }
		files, err := project(keys, lookup, v.Secret.Items, v.Secret.DefaultMode, DefaultSecretMode,
			optional(v.Secret.Optional), "secret "+quote(v.Secret.SecretName))
		rv.Files = files
		return rv, err
	default:
		return Volume{}, fmt.Errorf("volume source is not supported by tug (supported: emptyDir, configMap, secret)")
	}
}

func project(keys []string, lookup func(string) ([]byte, bool), items []corev1.KeyToPath, defaultMode *int32, fallback fs.FileMode, opt bool, what string) ([]File, error) {
	mode := fallback
	if defaultMode != nil {
		mode = fs.FileMode(*defaultMode) & fs.ModePerm
	}
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
