package api

import (
	"net/url"
)

// ObjectPath is the API path of one object ("/api/v1/namespaces/ns/pods/x"),
// or of kind's collection in namespace when name is empty.
func ObjectPath(kind, namespace, name string) (string, error) {
	p, err := resourcePath(kind, namespace)
	if err != nil || name == "" {
		return p, err
	}
	return p + "/" + url.PathEscape(name), nil
}
