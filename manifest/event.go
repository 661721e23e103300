package manifest

import (
	"fmt"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EventTTL is how long an event is kept after it was last seen (the
// Kubernetes API server's default --event-ttl).
const EventTTL = time.Hour

// NewEvent returns a core/v1 Event about obj in obj's namespace ("default"
// for cluster-scoped objects), as Kubernetes components record them. typ is
// corev1.EventTypeNormal or corev1.EventTypeWarning; component names the
// reporter ("tug-scheduler", "tug-agent"); host is the node, if any.
//
// The name is deterministic in (object UID, reason, message), so recording
// the same event again aggregates into one object with a growing count
// (state.Store.RecordEvent), as kubectl shows "(x5 over 2m)". Messages must
// never contain Secret values.
func NewEvent(obj Object, typ, reason, message, component, host string, now time.Time) *corev1.Event {
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", obj.GetUID(), KindOf(obj), reason, message)
	ts := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%016x", obj.GetName(), h.Sum64()),
			Namespace: ns,
		},
		InvolvedObject: corev1.ObjectReference{
			Kind:            KindOf(obj),
			Namespace:       obj.GetNamespace(),
			Name:            obj.GetName(),
			UID:             obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion(),
		},
		Reason:              reason,
		Message:             message,
		Type:                typ,
		Source:              corev1.EventSource{Component: component, Host: host},
		ReportingController: "tug.dev/" + component,
		ReportingInstance:   host,
		FirstTimestamp:      ts,
		LastTimestamp:       ts,
		Count:               1,
	}
	if gvk, ok := GVK(KindOf(obj)); ok {
		ev.InvolvedObject.APIVersion = gvk.GroupVersion().String()
	}
	SetTypeMeta(ev)
	return ev
}
