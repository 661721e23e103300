package images

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Auth is one set of registry credentials. Its String never shows the
// secret parts.
type Auth struct {
	Username      string
	Password      string
	IdentityToken string // a refresh token: used instead of the password
	Source        string // "<namespace>/<secret name>", for messages
}

// String names the credentials without their values.
func (a Auth) String() string {
	if a.Username == "" {
		return "token from secret " + a.Source
	}
	return fmt.Sprintf("user %q from secret %s", a.Username, a.Source)
}

// Keyring holds the credentials of a pod's imagePullSecrets and finds those
// that apply to an image the way the kubelet's BasicDockerKeyring does.
type Keyring struct {
	index []string          // keys, reverse-sorted: longer paths first
	creds map[string][]Auth // key: host[:port][/path] without scheme
}

const (
	defaultRegistryHost = "index.docker.io"
)

// dockerConfigEntry is one entry of a .dockercfg or .dockerconfigjson.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// KeyringFromSecrets reads the kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg secrets, in the order given (the order of the
// pod's imagePullSecrets). Errors name the secret and never show its data.
func KeyringFromSecrets(secrets []*corev1.Secret) (*Keyring, error) {
	k := &Keyring{creds: map[string][]Auth{}}
	for _, s := range secrets {
		src := s.Namespace + "/" + s.Name
		var cfg map[string]dockerConfigEntry
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			data, ok := secretData(s, corev1.DockerConfigJsonKey)
			if !ok {
				return nil, fmt.Errorf("imagePullSecret %s: no %s key", src, corev1.DockerConfigJsonKey)
			}
			var doc struct {
				Auths map[string]dockerConfigEntry `json:"auths"`
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				return nil, fmt.Errorf("imagePullSecret %s: %s is not valid JSON", src, corev1.DockerConfigJsonKey)
			}
			cfg = doc.Auths
		case corev1.SecretTypeDockercfg:
			data, ok := secretData(s, corev1.DockerConfigKey)
			if !ok {
				return nil, fmt.Errorf("imagePullSecret %s: no %s key", src, corev1.DockerConfigKey)
			}
			if err := json.Unmarshal(data, &cfg); err != nil {
				return nil, fmt.Errorf("imagePullSecret %s: %s is not valid JSON", src, corev1.DockerConfigKey)
			}
		default:
			return nil, fmt.Errorf("imagePullSecret %s has type %q; want %s or %s", src, s.Type,
				corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
		}
		for _, loc := range slices.Sorted(mapKeys(cfg)) {
			e := cfg[loc]
			a := Auth{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, Source: src}
			if e.Auth != "" {
				user, pass, err := decodeAuth(e.Auth)
				if err != nil {
					return nil, fmt.Errorf("imagePullSecret %s: entry %q: %w", src, loc, err)
				}
				a.Username, a.Password = user, pass
			}
			key, ok := keyOf(loc)
			if !ok {
				continue // the kubelet skips what does not parse, too
			}
			k.creds[key] = append(k.creds[key], a)
			if !slices.Contains(k.index, key) {
				k.index = append(k.index, key)
			}
		}
	}
	// Reverse order: "quay.io/coreos" is tried before "quay.io".
	slices.Sort(k.index)
	slices.Reverse(k.index)
	return k, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func secretData(s *corev1.Secret, key string) ([]byte, bool) {
	if v, ok := s.Data[key]; ok {
		return v, true
	}
	if v, ok := s.StringData[key]; ok {
		return []byte(v), true
	}
	return nil, false
}

func decodeAuth(s string) (user, pass string, err error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", fmt.Errorf("auth is not base64")
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", fmt.Errorf("auth is not base64 of user:password")
	}
	return user, pass, nil
}

// keyOf turns a docker config location ("https://index.docker.io/v1/",
// "registry.example.com:5000", "*.example.com/team") into a key: host, port
// and path without scheme, "/v1/" and "/v2/" meaning the host itself, as
// the kubelet's keyring does.
func keyOf(loc string) (string, bool) {
	value := loc
	if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil || u.Host == "" {
		return "", false
	}
	path := u.Path
	if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
		path = path[3:]
	}
	if path != "" && path != "/" {
		return u.Host + path, true
	}
	return u.Host, true
}

// Lookup returns the credentials that apply to image (a reference such as
// "docker.io/library/nginx:1.25" or "registry:5000/app"), most specific
// first, as the kubelet finds them: the key's host (with * globs per
// dot-separated part) and port must match and its path must be a prefix of
// the image's; Docker Hub images also match credentials for
// index.docker.io (its "https://index.docker.io/v1/" key).
func (k *Keyring) Lookup(image string) []Auth {
	if k == nil {
		return nil
	}
	repo := repository(image)
	var out []Auth
	for _, key := range k.index {
		if urlsMatch(key, repo) {
			out = append(out, k.creds[key]...)
		}
	}
	if len(out) > 0 {
		return out
	}
	if isDefaultRegistryMatch(repo) {
		return k.creds[defaultRegistryHost]
	}
	return nil
}

// repository strips the tag and digest of an image reference.
func repository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		image = image[:i]
	}
	return image
}

// isDefaultRegistryMatch tells whether image lives on Docker Hub.
func isDefaultRegistryMatch(image string) bool {
	first, _, found := strings.Cut(image, "/")
	if first == "" {
		return false
	}
	if !found {
		return true
	}
	if first == "docker.io" || first == "index.docker.io" {
		return true
	}
	return !strings.ContainsAny(first, ".:")
}

// urlsMatch is the kubelet's URLsMatchStr over scheme-less URLs.
func urlsMatch(glob, target string) bool {
	g, err := url.Parse("https://" + glob)
	if err != nil {
		return false
	}
	t, err := url.Parse("https://" + target)
	if err != nil {
		return false
	}
	gParts, gPort := splitHost(g)
	tParts, tPort := splitHost(t)
	if gPort != tPort || len(gParts) != len(tParts) {
		return false
	}
	if !strings.HasPrefix(t.Path, g.Path) {
		return false
	}
	for i, p := range gParts {
		if ok, err := filepath.Match(p, tParts[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func splitHost(u *url.URL) ([]string, string) {
	return strings.Split(u.Hostname(), "."), u.Port()
}
