package api

import (
	"net/url"
	"strings"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
)

// AnnotationRedacted marks an object whose secret values were removed.
const AnnotationRedacted = "tug.dev/redacted"

// lastApplied is kubectl's copy of the whole applied manifest; on a Secret it
// holds the values, so it goes too.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// RedactSecret returns a copy of s with every value in data and stringData
// emptied (the keys stay, so counts still show), kubectl's last-applied
// annotation removed and the annotation tug.dev/redacted=true added.
func RedactSecret(s *corev1.Secret) *corev1.Secret {
	out := s.DeepCopy()
	for k := range out.Data {
		out.Data[k] = []byte{}
	}
	for k := range out.StringData {
		out.StringData[k] = ""
	}
	ann := make(map[string]string, len(out.Annotations)+1)
	for k, v := range out.Annotations {
		if k != lastApplied {
			ann[k] = v
		}
	}
	ann[AnnotationRedacted] = "true"
	out.Annotations = ann
	return out
}

// sanitize returns obj as it may be served: secrets redacted, every other
// object unchanged.
func sanitize(obj manifest.Object) manifest.Object {
	if s, ok := obj.(*corev1.Secret); ok {
		return RedactSecret(s)
	}
	return obj
}

// RedactURL removes credentials from a repository URL: all user
// information from http(s) URLs (a token may sit in the user name) and the
// password from others (ssh://git@host keeps its user). scp-like
// "git@host:path" addresses are returned as they are.
func RedactURL(repo string) string {
	if !strings.Contains(repo, "://") {
		return repo
	}
	u, err := url.Parse(repo)
	if err != nil {
		// Do not echo something we cannot take apart: it may hold a secret.
		if i := strings.LastIndex(repo, "@"); i >= 0 {
			return repo[:strings.Index(repo, "://")+3] + repo[i+1:]
		}
		return repo
	}
	if u.User == nil {
		return repo
	}
	switch u.Scheme {
	case "http", "https":
		u.User = nil
	default:
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
