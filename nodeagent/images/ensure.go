package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
// following the pull policy (see the package documentation), pulling
// anonymously. It works in the namespace of ctx, or "tug" when ctx has
// none. A nil log discards.
func Ensure(ctx context.Context, client *containerd.Client, ref string, policy corev1.PullPolicy, log *slog.Logger) (containerd.Image, error) {
	r, err := EnsureWith(ctx, client, ref, policy, PullOptions{}, log)
	return r.Image, err
}

// Result tells what EnsureWith did.
type Result struct {
	Image  containerd.Image
	Name   string // the normalized reference
	Pulled bool   // false: the image was on the node
	Pull   Pulled // when Pulled
}

// EnsureWith is Ensure with pull options: credentials, progress, and
// opts.Pulling called right before a pull starts.
func EnsureWith(ctx context.Context, client *containerd.Client, ref string, policy corev1.PullPolicy, opts PullOptions, log *slog.Logger) (Result, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, ok := namespaces.Namespace(ctx); !ok {
		ctx = namespaces.WithNamespace(ctx, containerdproc.Namespace)
	}
	name, err := Normalize(ref)
	if err != nil {
		return Result{}, err
	}
	res := Result{Name: name}
	policy, err = EffectivePolicy(ref, policy)
	if err != nil {
		return res, err
	}

	if policy != corev1.PullAlways {
		img, err := client.GetImage(ctx, name)
		switch {
		case err == nil:
			if err := unpack(ctx, img); err != nil {
				return res, fmt.Errorf("image %q (%s): %w", ref, name, err)
			}
			res.Image = img
			return res, nil
		case !errdefs.IsNotFound(err):
			return res, fmt.Errorf("image %q (%s): look up local image: %w", ref, name, err)
		case policy == corev1.PullNever:
			return res, fmt.Errorf("image %q (%s) is not on this node and imagePullPolicy is Never; put its archive in the node's images directory or change the policy: %w", ref, name, ErrImageNeverPull)
		}
	}

	if opts.Pulling != nil {
		opts.Pulling()
	}
	log.Info("pulling image", "image", name, "policy", string(policy), "credentials", len(opts.Auths))
	img, pulled, err := Pull(ctx, client, name, opts)
	if err != nil {
		if policy == corev1.PullAlways {
			return res, fmt.Errorf("image %q (%s): pull (imagePullPolicy Always): %w: %w", ref, name, ErrImagePull, err)
		}
		return res, fmt.Errorf("image %q (%s) is not on this node and pulling it failed: %w: %w", ref, name, ErrImagePull, err)
	}
	log.Info("pulled image", "image", name, "digest", img.Target().Digest.String(), "took", pulled.Took.Round(time.Millisecond).String())
	res.Image, res.Pulled, res.Pull = img, true, pulled
	return res, nil
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
