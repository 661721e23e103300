package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func endpointsColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("Endpoints", "string"), column("Age", "string")}
}

func endpointsRow(obj manifest.Object, now time.Time) ([]any, error) {
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return nil, fmt.Errorf("not an endpoints object: %T", obj)
	}
	return []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}, nil
}

// formatEndpoints lists ready address:port pairs as kubectl does: at most
// three, then " + N more...", or <none>.
func formatEndpoints(ep *corev1.Endpoints) string {
	const max = 3
	var list []string
	total := 0
	for _, ss := range ep.Subsets {
		ports := ss.Ports
		if len(ports) == 0 {
			ports = []corev1.EndpointPort{{}}
		}
		for _, p := range ports {
			for _, a := range ss.Addresses {
				total++
				if len(list) >= max {
					continue
				}
				if p.Port == 0 {
					list = append(list, a.IP)
				} else {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	if total == 0 {
		return "<none>"
	}
	s := strings.Join(list, ",")
	if total > max {
		s += fmt.Sprintf(" + %d more...", total-max)
	}
	return s
}
