// Package volume renders and materialises a pod's volumes on the node.
//
// Render is pure: from the pod and the ConfigMaps and Secrets of its
// namespace it computes every volume's kind and the files it must hold.
// Setup, SyncAtomic, Sync and Teardown do the file system work under the
// pod's directory:
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
//   - downwardAPI: one file per item from a fieldRef (metadata.name,
//     namespace, uid, labels, annotations, labels['k'], annotations['k']);
//     whole label/annotation maps are sorted key="value" lines, as the
//     kubelet writes them; or from a resourceFieldRef (limits/requests of
//     cpu, memory, ephemeral-storage of the container it must name, with
//     its divisor; a limit the container does not set is the node's
//     allocatable amount, Sources.Allocatable, as in the kubelet). On a
//     tmpfs.
//   - projected: the files of its configMap, secret and downwardAPI sources
//     in one directory (projected.defaultMode, else 0644, unless an item's
//     mode says otherwise); two sources projecting one path is an error.
//     On a tmpfs.
//
// A persistentVolumeClaim volume is not rendered: ResolveClaims (pure)
// first replaces it with the hostPath of the bound PersistentVolume.
// EnsureStorageDir, RemoveStorageDir and EmptyStorageDir create, delete and
// recycle local-path volume directories, only strictly below the storage
// directory and never through a link.
//
// A missing ConfigMap, Secret or key is an error unless the volume source
// (or, for items, the source) is optional, as in Kubernetes.
//
// Every volume with files uses the kubelet's atomic-writer layout
// (SyncAtomic): the files live in a timestamped directory "..<ts>", the
// link "..data" points at it and each top-level name is a link
// "name -> ..data/name". An update writes a new timestamped directory and
// swaps "..data" with one rename, then removes the old directory, so a
// container that mounts the whole volume sees either the old content or the
// new one, never a mix. A subPath mount binds the file the links resolved to
// at container start, so it keeps the content it started with, as in
// Kubernetes. Sync (plain files replaced one by one) remains for single
// files that are bind-mounted themselves (the pod's /etc/hosts and
// friends), where a link swap could not reach the container.
package volume
