package printers

import (
	"fmt"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func eventColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		column("Last Seen", "string"), column("Type", "string"), column("Reason", "string"),
		column("Object", "string"), column("Message", "string"),
		wide("Source"), wide("First Seen"), wide("Count"), wide("Name"),
	}
}

// eventRow prints an event as kubectl get events does: "LAST SEEN" with the
// count and span of an aggregated event ("2m (x5 over 10m)").
func eventRow(obj manifest.Object, now time.Time) ([]any, error) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil, fmt.Errorf("not an event: %T", obj)
	}
	last := age(ev.LastTimestamp, now)
	if ev.Count > 1 {
		last = fmt.Sprintf("%s (x%d over %s)", last, ev.Count, age(ev.FirstTimestamp, now))
	}
	object := strings.ToLower(ev.InvolvedObject.Kind) + "/" + ev.InvolvedObject.Name
	source := ev.Source.Component
	if ev.Source.Host != "" {
		source += ", " + ev.Source.Host
	}
	return []any{last, ev.Type, ev.Reason, object, ev.Message, source, age(ev.FirstTimestamp, now), int64(ev.Count), ev.Name}, nil
}
