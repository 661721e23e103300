// Package volume renders and materialises a pod's volumes on the node.
//
// Render is pure: from the pod and the ConfigMaps and Secrets of its
// namespace it computes every volume's kind and the files it must hold.
// Setup, Sync and Teardown do the file system work under the pod's
// directory:
//
//	<podDir>/.volumes/<volume name>/...
//
// (a leading dot cannot start a container name, so the directory never
// collides with the per-container log directories beside it).
//
// Kinds:
//   - emptyDir: a directory; medium Memory is a tmpfs (sizeLimit honoured).
//   - configMap: one file per key (or per item), mode item.mode, else
//     defaultMode, else 0644. Data and binaryData are both written.
//   - secret: like configMap, on its own tmpfs so values never reach the
//     disk; files default to mode 0644, as in Kubernetes, unless
//     defaultMode or an item's mode says otherwise.
//
// A missing ConfigMap, Secret or key is an error unless the volume source
// (or, for items, the source) is optional, as in Kubernetes. Sync replaces
// changed files atomically (write to a temporary file, rename) and removes
// files that are no longer wanted, so a ConfigMap change reaches running
// containers that mount the whole volume (subPath mounts keep the file they
// started with, as in Kubernetes).
package volume
