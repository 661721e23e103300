package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/images"
	corev1 "k8s.io/api/core/v1"
)

// Waiting reasons and event reasons of image pulls, the kubelet's.
const (
	reasonErrImagePull       = "ErrImagePull"
	reasonImagePullBackOff   = "ImagePullBackOff"
	reasonErrImageNeverPull  = "ErrImageNeverPull"
	reasonWaitingForImport   = "ContainerCreating"
	eventComponent           = "kubelet"
	imagePullBackOffInitial  = 10 * time.Second
	imagePullBackOffMax      = 5 * time.Minute
	imagePullProgressPeriod  = 10 * time.Second
	importRetryDelay         = time.Second
	errImagePullShownFor     = 2 * time.Second
	imagePullFailedEventHead = "Failed to pull image"
)

// ImportWaiter tells whether image archives are still being imported
// (images.Importer satisfies it): a missing image may be on its way.
type ImportWaiter interface {
	Importing() bool
}

// errWaitingForImport: the image is missing but archives are being imported.
var errWaitingForImport = errors.New("waiting for image archives to be imported")

// ensureImage returns the image of container spec, pulling it with the
// credentials of the pod's imagePullSecrets, and records the kubelet's
// events: Pulling (and its progress), Pulled, Failed.
func (a *Agent) ensureImage(ctx context.Context, pod *corev1.Pod, spec *corev1.Container) (containerd.Image, error) {
	name := spec.Name
	policy, _ := images.EffectivePolicy(spec.Image, spec.ImagePullPolicy)
	if policy != corev1.PullAlways && a.cfg.Imports != nil {
		// A missing image may be in an archive still being imported: wait
		// for it rather than pull (or fail with Never).
		if norm, err := images.Normalize(spec.Image); err == nil {
			if _, err := a.cfg.Client.GetImage(ctx, norm); errdefs.IsNotFound(err) && a.cfg.Imports.Importing() {
				return nil, &actionError{container: name, reason: reasonWaitingForImport,
					err: fmt.Errorf("container %q: image %q: %w", name, spec.Image, errWaitingForImport)}
			}
		}
	}
	auths, err := a.pullAuths(pod, spec.Image)
	if err != nil {
		a.event(pod, name, corev1.EventTypeWarning, "FailedToRetrieveImagePullSecret", fmt.Sprintf(
			"Unable to retrieve some image pull secrets (%v); attempting to pull the image may not succeed.", err))
	}
	opts := images.PullOptions{
		Auths:         auths,
		ProgressEvery: imagePullProgressPeriod,
		Pulling: func() {
			a.event(pod, name, corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", spec.Image))
		},
		Progress: func(done, total int64) {
			a.event(pod, name, corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q: %s of %s",
				spec.Image, images.HumanBytes(done), images.HumanBytes(total)))
		},
	}
	res, err := images.EnsureWith(ctx, a.cfg.Client, spec.Image, spec.ImagePullPolicy, opts, a.log)
	switch {
	case errors.Is(err, images.ErrImageNeverPull):
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", spec.Image)
		a.event(pod, name, corev1.EventTypeWarning, reasonErrImageNeverPull, msg)
		return nil, &actionError{container: name, reason: reasonErrImageNeverPull, err: fmt.Errorf("container %q: %s", name, msg)}
	case err != nil:
		a.event(pod, name, corev1.EventTypeWarning, "Failed", fmt.Sprintf("%s %q: %v", imagePullFailedEventHead, spec.Image, err))
		a.event(pod, name, corev1.EventTypeWarning, "Failed", "Error: "+reasonErrImagePull)
		return nil, &actionError{container: name, reason: reasonErrImagePull, err: fmt.Errorf("container %q: %w", name, err)}
	case res.Pulled:
		took := res.Pull.Took.Round(time.Millisecond)
		a.event(pod, name, corev1.EventTypeNormal, "Pulled", fmt.Sprintf(
			"Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", spec.Image, took, took, res.Pull.Size))
	default:
		a.event(pod, name, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", spec.Image))
	}
	return res.Image, nil
}

// pullAuths reads the pod's imagePullSecrets and returns the credentials
// that apply to image. Secrets that are missing or unreadable are skipped
// (the kubelet pulls anyway) and reported in the error.
func (a *Agent) pullAuths(pod *corev1.Pod, image string) ([]images.Auth, error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, nil
	}
	var secrets []*corev1.Secret
	var errs []error
	for _, ref := range pod.Spec.ImagePullSecrets {
		obj, err := a.cfg.Store.Get(manifest.Key{Kind: manifest.KindSecret, Namespace: pod.Namespace, Name: ref.Name})
		if err != nil {
			errs = append(errs, fmt.Errorf("secret %s/%s: %w", pod.Namespace, ref.Name, err))
			continue
		}
		s, ok := obj.(*corev1.Secret)
		if !ok {
			continue
		}
		if _, err := images.KeyringFromSecrets([]*corev1.Secret{s}); err != nil {
			errs = append(errs, err)
			continue
		}
		secrets = append(secrets, s)
	}
	kr, _ := images.KeyringFromSecrets(secrets) // each was checked above
	name, err := images.Normalize(image)
	if err != nil {
		return nil, err
	}
	return kr.Lookup(name), errors.Join(errs...)
}

// event records an event on pod (for container, when set) and logs a
// failure to record it; it never fails the caller.
func (a *Agent) event(pod *corev1.Pod, container, typ, reason, message string) {
	ev := manifest.NewEvent(pod, typ, reason, message, eventComponent, a.cfg.NodeName, a.clock())
	if container != "" {
		ev.InvolvedObject.FieldPath = fieldPathOf(pod, container)
	}
	if err := a.cfg.Store.RecordEvent(ev); err != nil {
		a.log.Warn("record event", "pod", pod.Namespace+"/"+pod.Name, "reason", reason, "err", err)
	}
}

func fieldPathOf(pod *corev1.Pod, container string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			return "spec.initContainers{" + container + "}"
		}
	}
	return "spec.containers{" + container + "}"
}

// pullBackOff turns a failed pull that is not fresh any more into the
// kubelet's ImagePullBackOff, with its message. It is pure.
func pullBackOff(f Failure, image string, now time.Time) (Failure, bool) {
	if f.Reason != reasonErrImagePull || now.Sub(f.At) < errImagePullShownFor {
		return f, false
	}
	msg := f.Message
	if head := fmt.Sprintf("container %q: ", f.Container); strings.Contains(msg, head) {
		msg = msg[strings.Index(msg, head)+len(head):] // pod and container are the status's own
	}
	f.Reason = reasonImagePullBackOff
	f.Message = fmt.Sprintf("Back-off pulling image %q: %s: %s", image, reasonErrImagePull, msg)
	return f, true
}

// imageOf returns the image of container name in pod.
func imageOf(pod *corev1.Pod, name string) string {
	if c, err := specOf(pod, name); err == nil {
		return c.Image
	}
	return ""
}

// pullRetryDelay is the kubelet's image pull back-off: 10 s after the first
// failure, doubling, at most 5 min.
func pullRetryDelay(attempts int) time.Duration {
	d := imagePullBackOffInitial
	for i := 1; i < attempts && d < imagePullBackOffMax; i++ {
		d *= 2
	}
	return min(d, imagePullBackOffMax)
}
