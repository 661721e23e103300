// Package pack turns one static binary into a single-layer container image and
// writes it as a docker-format image archive, with no Docker daemon and no
// registry. It is the code behind the mkimage command and behind the test
// harness that builds tug's demo images.
//
// The image holds the binary, /etc/passwd and /etc/group (root and nobody,
// 65534), and /tmp (mode 1777). Its config sets the entrypoint to the binary,
// the working directory to /, the user to 0, PATH and PORT in the
// environment, the exposed TCP port and the platform linux/<arch>.
//
// The output is deterministic: every timestamp is the Unix epoch, entries are
// written in a fixed order, so packing the same binary twice gives the same
// bytes and the same digests. WriteArchive replaces its output atomically and
// leaves an unchanged file untouched, so watchers of the output directory see
// an event only for a real change.
//
// containerd's client.Import accepts the archive and keeps the image name
// given in the archive's manifest.json (RepoTags).
package pack
