package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tug-dev/tug/manifest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StatusError is an error answer from the server: a Kubernetes Status.
type StatusError struct {
	Status metav1.Status
}

func (e *StatusError) Error() string { return e.Status.Message }

// IsNotFound reports whether err is a 404 answer from the server.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status.Code == http.StatusNotFound
}

func newStatus(code int, reason metav1.StatusReason, msg string) metav1.Status {
	return metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}
}

// qualifiedResource is how Kubernetes names a resource in messages:
// "pods", "deployments.apps".
func qualifiedResource(kind string) string {
	gvk, _ := manifest.GVK(kind)
	if gvk.Group == "" {
		return manifest.Plural(kind)
	}
	return manifest.Plural(kind) + "." + gvk.Group
}

func notFound(kind, name string) metav1.Status {
	st := newStatus(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("%s %q not found", qualifiedResource(kind), name))
	gvk, _ := manifest.GVK(kind)
	st.Details = &metav1.StatusDetails{Name: name, Group: gvk.Group, Kind: manifest.Plural(kind)}
	return st
}

func noSuchResource() metav1.Status {
	return newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

func badRequest(msg string) metav1.Status {
	return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, msg)
}

func internalError(err error) metav1.Status {
	return newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
}
