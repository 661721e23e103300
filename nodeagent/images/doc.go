// Package images makes container images available to containerd on a node,
// in the containerd namespace "tug", unpacked into the overlayfs snapshotter.
//
// Two ways in:
//
//   - Importer loads image archives (docker "docker save" format or OCI
//     layout tarballs) dropped in a directory, usually <data-dir>/images, for
//     air-gapped nodes and for tug's own demo images. Images are named by the
//     archive: RepoTags in a docker archive, a full reference in the
//     org.opencontainers.image.ref.name annotation of an OCI archive (a bare
//     tag there names nothing). ImportAll imports every
//     *.tar file (names starting with "." are ignored, so writers can write
//     ".x.tar.tmp" and rename); Run does so at start and again, debounced,
//     whenever a *.tar file is created, renamed into the directory or
//     written, Concurrency archives at a time (default 2). An archive imported
//     before and unchanged is skipped: a marker
//     <Dir>/.imported/<archive>.json records the archive's size,
//     modification time and sha256 and the images (name, digest) it
//     produced; the same size and mtime skip it without reading it, a
//     touched file with the same sha256 too, and the skip also requires
//     those images to still exist in containerd with the same digest,
//     unpacked. Importing tells whether an import runs or an archive waits
//     for one (new or changed, and not failed as it is), so that the node
//     agent holds back containers whose image may be on its way. A
//     bad archive is logged and skipped; every archive has a time limit.
//     Removing an archive does not remove its images.
//   - Ensure returns the image a container needs, following Kubernetes'
//     imagePullPolicy: it normalizes the reference with Docker's rules
//     ("nginx" is "docker.io/library/nginx:latest"), uses the local image
//     when present (unpacking it if needed) unless the policy is Always, and
//     otherwise pulls through containerd with unpack. EnsureWith and
//     Pull take credentials (PullOptions.Auths, tried in order; the
//     registry's 401 is in the error, the credentials are named, never
//     shown), a progress callback (bytes fetched of the total known) and
//     the plain-HTTP hosts (default: localhost and loopback addresses).
//   - KeyringFromSecrets reads kubernetes.io/dockerconfigjson and
//     kubernetes.io/dockercfg Secrets and Lookup picks the credentials for an
//     image the way the kubelet's keyring does: host (with * globs per
//     dot-separated part), port and path prefix of each entry ("/v1/" and
//     "/v2/" mean the host), more specific paths first; Docker Hub images
//     also match "index.docker.io" ("https://index.docker.io/v1/"). An empty policy means
//     Always for ":latest" or untagged references and IfNotPresent
//     otherwise, as in Kubernetes. Failures wrap ErrImageNeverPull or
//     ErrImagePull and name the image.
package images
