package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/nodeagent/containerdproc"
)

// Snapshotter is the containerd snapshotter images are unpacked into.
const Snapshotter = "overlayfs"

var (
	// ErrImageNeverPull: the image is not on the node and the policy is Never.
	ErrImageNeverPull = errors.New("image not present and pull policy is Never")
	// ErrImagePull: the image could not be pulled.
	ErrImagePull = errors.New("image pull failed")
)

// Normalize returns the full reference of ref by Docker's rules, the name
// containerd stores images under: "nginx" → "docker.io/library/nginx:latest",
// "tug.local/hello:v1" stays as it is.
func Normalize(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: invalid reference: %w", ref, err)
	}
	return named.String(), nil
}

// EffectivePolicy returns the pull policy that applies to ref: policy when
// set, otherwise Kubernetes' default (Always for a ":latest" tag or no tag
// and no digest, IfNotPresent otherwise).
func EffectivePolicy(ref string, policy corev1.PullPolicy) (corev1.PullPolicy, error) {
	if policy != "" {
		switch policy {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			return policy, nil
		}
		return "", fmt.Errorf("image %q: unknown imagePullPolicy %q (want Always, IfNotPresent or Never)", ref, policy)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: invalid reference: %w", ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return corev1.PullIfNotPresent, nil
	}
	if tagged, ok := named.(reference.Tagged); ok && tagged.Tag() != "latest" {
		return corev1.PullIfNotPresent, nil
	}
	return corev1.PullAlways, nil
}

// Ensure returns the image ref, unpacked into the overlayfs snapshotter,
// following the pull policy (see the package documentation). It works in
// the namespace of ctx, or "tug" when ctx has none. A nil log discards.
func Ensure(ctx context.Context, client *containerd.Client, ref string, policy corev1.PullPolicy, log *slog.Logger) (containerd.Image, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, ok := namespaces.Namespace(ctx); !ok {
		ctx = namespaces.WithNamespace(ctx, containerdproc.Namespace)
	}
	name, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	policy, err = EffectivePolicy(ref, policy)
	if err != nil {
		return nil, err
	}

	if policy != corev1.PullAlways {
		img, err := client.GetImage(ctx, name)
		switch {
		case err == nil:
			if err := unpack(ctx, img); err != nil {
				return nil, fmt.Errorf("image %q (%s): %w", ref, name, err)
			}
			return img, nil
		case !errdefs.IsNotFound(err):
			return nil, fmt.Errorf("image %q (%s): look up local image: %w", ref, name, err)
		case policy == corev1.PullNever:
			return nil, fmt.Errorf("image %q (%s) is not on this node and imagePullPolicy is Never; put its archive in the node's images directory or change the policy: %w", ref, name, ErrImageNeverPull)
		}
	}

	log.Info("pulling image", "image", name, "policy", string(policy))
	img, err := client.Pull(ctx, name, containerd.WithPullUnpack, containerd.WithPullSnapshotter(Snapshotter))
	if err != nil {
		if policy == corev1.PullAlways {
			return nil, fmt.Errorf("image %q (%s): pull (imagePullPolicy Always): %w: %w", ref, name, ErrImagePull, err)
		}
		return nil, fmt.Errorf("image %q (%s) is not on this node and pulling it failed: %w: %w", ref, name, ErrImagePull, err)
	}
	log.Info("pulled image", "image", name, "digest", img.Target().Digest.String())
	return img, nil
}

// unpack makes sure img is unpacked into the snapshotter.
func unpack(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, Snapshotter)
	if err != nil {
		return fmt.Errorf("check unpacked into %s: %w", Snapshotter, err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, Snapshotter); err != nil {
		return fmt.Errorf("unpack into %s: %w", Snapshotter, err)
	}
	return nil
}
