package printers

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tug-dev/tug/manifest"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Options control how PrintTable, PrintList and PrintObject write.
type Options struct {
	// Output is the kubectl output format: "" (table), "wide", "json",
	// "yaml" or "name".
	Output string
	// WithNamespace adds a leading NAMESPACE column (kubectl -A).
	WithNamespace bool
	// NoHeaders leaves out the header line of tables.
	NoHeaders bool
	// Now is the clock reading ages are computed against.
	Now time.Time
}

// Output formats.
const (
	OutputTable = ""
	OutputWide  = "wide"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
	OutputName  = "name"
)

// ValidateOutput reports whether format is an output format tug supports.
func ValidateOutput(format string) error {
	switch format {
	case OutputTable, OutputWide, OutputJSON, OutputYAML, OutputName:
		return nil
	}
	return fmt.Errorf("unknown output format %q: use one of wide, json, yaml, name", format)
}

// rowFunc renders one object as the cells of a table row, wide columns
// included.
type rowFunc func(obj manifest.Object, now time.Time) ([]any, error)

// Table returns the kubectl table for objs, which must all be of kind, with
// ages computed against now. Each row's Object holds the object it was built
// from. Wide columns are included and marked with Priority 1.
func Table(kind string, objs []manifest.Object, now time.Time) (*metav1.Table, error) {
	cols, row, err := tableFor(kind)
	if err != nil {
		return nil, err
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: metav1.SchemeGroupVersion.String()},
		ColumnDefinitions: cols,
		Rows:              make([]metav1.TableRow, 0, len(objs)),
	}
	for _, obj := range objs {
		if k := manifest.KindOf(obj); k != kind {
			return nil, fmt.Errorf("table of %s: %s %s/%s is a %s", kind, kind, obj.GetNamespace(), obj.GetName(), k)
		}
		cells, err := row(obj, now)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: obj}})
	}
	return t, nil
}

func tableFor(kind string) ([]metav1.TableColumnDefinition, rowFunc, error) {
	switch kind {
	case manifest.KindPod:
		return podColumns(), podRow, nil
	case manifest.KindDeployment:
		return deploymentColumns(), deploymentRow, nil
	case manifest.KindReplicaSet:
		return replicaSetColumns(), replicaSetRow, nil
	case manifest.KindService:
		return serviceColumns(), serviceRow, nil
	case manifest.KindConfigMap:
		return configMapColumns(), configMapRow, nil
	case manifest.KindSecret:
		return secretColumns(), secretRow, nil
	case manifest.KindNode:
		return nodeColumns(), nodeRow, nil
	case manifest.KindNamespace:
		return namespaceColumns(), namespaceRow, nil
	case manifest.KindJob:
		return jobColumns(), jobRow, nil
	case manifest.KindCronJob:
		return cronJobColumns(), cronJobRow, nil
	case manifest.KindDaemonSet:
		return daemonSetColumns(), daemonSetRow, nil
	case manifest.KindStatefulSet:
		return statefulSetColumns(), statefulSetRow, nil
	case manifest.KindEndpoints:
		return endpointsColumns(), endpointsRow, nil
	case manifest.KindEndpointSlice:
		return endpointSliceColumns(), endpointSliceRow, nil
	case manifest.KindResourceQuota:
		return resourceQuotaColumns(), resourceQuotaRow, nil
	case manifest.KindLimitRange:
		return limitRangeColumns(), limitRangeRow, nil
	case manifest.KindEvent:
		return eventColumns(), eventRow, nil
	case manifest.KindNetworkPolicy:
		return networkPolicyColumns(), networkPolicyRow, nil
	case manifest.KindPodDisruptionBudget:
		return pdbColumns(), pdbRow, nil
	case manifest.KindLease:
		return leaseColumns(), leaseRow, nil
	case manifest.KindPersistentVolume:
		return persistentVolumeColumns(), persistentVolumeRow, nil
	case manifest.KindPersistentVolumeClaim:
		return persistentVolumeClaimColumns(), persistentVolumeClaimRow, nil
	case manifest.KindStorageClass:
		return storageClassColumns(), storageClassRow, nil
	}
	return nil, nil, fmt.Errorf("no table for kind %q: %w", kind, manifest.ErrUnknownKind)
}

// column returns a default column; wide returns an -o wide one.
func column(name, typ string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ}
}

func wide(name string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Priority: 1}
}

func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name"}
}

// PrintTable writes t as kubectl does: upper-case headers, columns aligned
// with a tabwriter (minimum width 6, padding 3), wide columns only when
// opts.Output is "wide", and a NAMESPACE column first when opts.WithNamespace.
// It writes nothing for a table without rows.
func PrintTable(w io.Writer, t *metav1.Table, opts Options) error {
	if len(t.Rows) == 0 {
		return nil
	}
	showWide := opts.Output == OutputWide
	var show []int
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 || showWide {
			show = append(show, i)
		}
	}
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if !opts.NoHeaders {
		var hdr []string
		if opts.WithNamespace {
			hdr = append(hdr, "NAMESPACE")
		}
		for _, i := range show {
			hdr = append(hdr, strings.ToUpper(t.ColumnDefinitions[i].Name))
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	}
	for _, row := range t.Rows {
		var cells []string
		if opts.WithNamespace {
			cells = append(cells, cell(rowNamespace(row)))
		}
		for _, i := range show {
			var v any
			if i < len(row.Cells) {
				v = row.Cells[i]
			}
			cells = append(cells, cell(v))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func rowNamespace(row metav1.TableRow) string {
	if row.Object.Object == nil {
		return ""
	}
	m, err := meta.Accessor(row.Object.Object)
	if err != nil {
		return ""
	}
	return m.GetNamespace()
}

// cell formats one table cell. Tabs and control characters would break the
// layout (or the terminal), so they become spaces or escapes.
func cell(v any) string {
	if v == nil {
		return "<none>"
	}
	s := fmt.Sprint(v)
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case isControl(r):
			fmt.Fprintf(&b, "^%c", '@'+r%32)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Age renders the time since ts as kubectl does ("5m", "2d3h"), or
// "<unknown>" when ts is zero.
func Age(ts time.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts))
}

func age(ts metav1.Time, now time.Time) string { return Age(ts.Time, now) }

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
