package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func endpointSliceColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn(), column("AddressType", "string"), column("Ports", "string"),
		column("Endpoints", "string"), column("Age", "string")}
}

func endpointSliceRow(obj manifest.Object, now time.Time) ([]any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, fmt.Errorf("not an endpoint slice: %T", obj)
	}
	return []any{s.Name, string(s.AddressType), formatSlicePorts(s.Ports), formatSliceEndpoints(s.Endpoints), age(s.CreationTimestamp, now)}, nil
}

// formatSlicePorts lists the port numbers as kubectl does ("80,443", at
// most three then " + N more...", or <unset>).
func formatSlicePorts(ports []discoveryv1.EndpointPort) string {
	if len(ports) == 0 {
		return "<unset>"
	}
	list := make([]string, 0, min(len(ports), 3))
	for _, p := range ports[:min(len(ports), 3)] {
		if p.Port == nil {
			list = append(list, "<unset>")
			continue
		}
		list = append(list, strconv.Itoa(int(*p.Port)))
	}
	return moreList(list, len(ports))
}

// formatSliceEndpoints lists every endpoint's addresses, ready or not, as
// kubectl does (at most three, or <unset>).
func formatSliceEndpoints(eps []discoveryv1.Endpoint) string {
	var list []string
	total := 0
	for _, e := range eps {
		for _, a := range e.Addresses {
			total++
			if len(list) < 3 {
				list = append(list, a)
			}
		}
	}
	if total == 0 {
		return "<unset>"
	}
	return moreList(list, total)
}

func moreList(list []string, total int) string {
	s := strings.Join(list, ",")
	if total > len(list) {
		s += fmt.Sprintf(" + %d more...", total-len(list))
	}
	return s
}
