// Package printers renders tug objects the way kubectl does.
//
// The core is Table, a pure function from objects and a clock reading to a
// metav1.Table with kubectl's columns and cells for each kind tug serves:
// pods (READY, STATUS with the waiting reason or Terminating, RESTARTS with
// the age of the last restart), deployments, replicasets, services,
// configmaps, secrets, nodes and namespaces. Columns with Priority 1 are the
// extra -o wide columns. The same Table can be served to kubectl by the API
// (server-side printing) or written as text by PrintTable, which lays it out
// with kubectl's tabwriter settings.
//
// PrintList and PrintObject add the other kubectl output formats (json,
// yaml, name); PrintStatus and PrintHistory render tug's own status and
// sync history. Nothing here performs I/O other than writing to the given
// writer, and nothing reads the wall clock: callers pass now.
package printers
