package manifest

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem found in the repository, shown as
//
//	deploy/web.yaml:14: Deployment default/web: spec.template.spec.containers[0].imagePullPolicyy: unknown field
//
// Parts that are unknown (no file, no object, no field) are left out.
// Messages never contain Secret values.
type FieldError struct {
	File   string
	Line   int
	Object string // "Deployment default/web", "Namespace shop" or ""
	Field  string // JSON path such as "spec.replicas", or ""
	Msg    string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Object != "" {
		b.WriteString(e.Object)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList collects FieldErrors. Its Error joins them one per line.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	return strings.Join(l.Strings(), "\n")
}

// Strings returns one string per error.
func (l ErrorList) Strings() []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.Error()
	}
	return out
}

// AsErrorList returns the ErrorList in err's chain, if any.
func AsErrorList(err error) (ErrorList, bool) {
	var l ErrorList
	if errors.As(err, &l) {
		return l, true
	}
	return nil, false
}

// sortErrors orders errors by file, line, field and message, and removes
// exact repeats.
func sortErrors(l ErrorList) ErrorList {
	slices.SortStableFunc(l, func(a, b *FieldError) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.CompactFunc(l, func(a, b *FieldError) bool { return *a == *b })
}

// errOrNil returns l as an error, or nil when l is empty (never a typed nil).
func (l ErrorList) errOrNil() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
