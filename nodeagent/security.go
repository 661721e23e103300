package nodeagent

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/pkg/cap"
	corev1 "k8s.io/api/core/v1"
)

// security is the effective security settings of one container: the
// container's securityContext over the pod's, as the kubelet merges them.
type security struct {
	RunAsUser, RunAsGroup *int64
	RunAsNonRoot          bool
	ExtraGroups           []int64 // fsGroup, then supplementalGroups
	ReadOnlyRoot          bool
	Privileged            bool
	NoNewPrivs            bool // allowPrivilegeEscalation: false
	Add, Drop             []corev1.Capability
	Seccomp               bool // RuntimeDefault (tug's default); false: Unconfined
}

// securityOf merges the pod's and the container's securityContext.
func securityOf(pod *corev1.Pod, c *corev1.Container) security {
	s := security{Seccomp: true}
	if p := pod.Spec.SecurityContext; p != nil {
		s.RunAsUser, s.RunAsGroup = p.RunAsUser, p.RunAsGroup
		s.RunAsNonRoot = p.RunAsNonRoot != nil && *p.RunAsNonRoot
		if p.FSGroup != nil {
			s.ExtraGroups = append(s.ExtraGroups, *p.FSGroup)
		}
		s.ExtraGroups = append(s.ExtraGroups, p.SupplementalGroups...)
		if sp := p.SeccompProfile; sp != nil && sp.Type == corev1.SeccompProfileTypeUnconfined {
			s.Seccomp = false
		}
	}
	if cs := c.SecurityContext; cs != nil {
		if cs.RunAsUser != nil {
			s.RunAsUser = cs.RunAsUser
		}
		if cs.RunAsGroup != nil {
			s.RunAsGroup = cs.RunAsGroup
		}
		if cs.RunAsNonRoot != nil {
			s.RunAsNonRoot = *cs.RunAsNonRoot
		}
		s.ReadOnlyRoot = cs.ReadOnlyRootFilesystem != nil && *cs.ReadOnlyRootFilesystem
		s.Privileged = cs.Privileged != nil && *cs.Privileged
		s.NoNewPrivs = cs.AllowPrivilegeEscalation != nil && !*cs.AllowPrivilegeEscalation
		if cs.Capabilities != nil {
			s.Add, s.Drop = cs.Capabilities.Add, cs.Capabilities.Drop
		}
		if sp := cs.SeccompProfile; sp != nil {
			s.Seccomp = sp.Type != corev1.SeccompProfileTypeUnconfined
		}
	}
	if s.Privileged {
		s.Seccomp = false // as containerd's CRI: privileged containers are unconfined
	}
	return s
}

// verifyNonRoot is the kubelet's check of runAsNonRoot against the user
// the container would run as (imageUser: the image config's User). Its
// error is a CreateContainerConfigError.
func verifyNonRoot(s security, imageUser, pod, container string) error {
	if !s.RunAsNonRoot {
		return nil
	}
	if s.RunAsUser != nil {
		if *s.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", pod, container)
		}
		return nil
	}
	u, _, _ := strings.Cut(imageUser, ":")
	if u == "" {
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod, container)
	}
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", u, pod, container)
	}
	if uid == 0 {
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod, container)
	}
	return nil
}

// securityOpts turns s into OCI spec options, to follow oci.WithImageConfig
// (which sets the image's user) and to precede nothing that sets
// capabilities: the seccomp profile, last, depends on them.
func securityOpts(s security) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if s.RunAsUser != nil {
		uid := uint32(*s.RunAsUser)
		// The image's /etc/passwd gives the group when runAsGroup does not,
		// and /etc/group the user's groups.
		opts = append(opts, oci.WithUserID(uid), oci.WithAdditionalGIDs(strconv.FormatUint(uint64(uid), 10)))
	}
	if s.RunAsGroup != nil || len(s.ExtraGroups) > 0 {
		gid, extra := s.RunAsGroup, s.ExtraGroups
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
			if gid != nil {
				sp.Process.User.GID = uint32(*gid)
			}
			groups := sp.Process.User.AdditionalGids
			for _, g := range append([]int64{int64(sp.Process.User.GID)}, extra...) {
				if !slices.Contains(groups, uint32(g)) {
					groups = append(groups, uint32(g))
				}
			}
			sp.Process.User.AdditionalGids = groups
			return nil
		})
	}
	if s.ReadOnlyRoot {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if s.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else if len(s.Add) > 0 || len(s.Drop) > 0 {
		opts = append(opts, withCapabilities(s.Add, s.Drop))
	}
	if s.NoNewPrivs {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if s.Seccomp {
		opts = append(opts, seccomp.WithDefaultProfile())
	}
	return opts
}

// capName turns a Kubernetes capability name (with or without CAP_) into
// the kernel's.
func capName(c corev1.Capability) string {
	n := strings.ToUpper(string(c))
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	return n
}

// withCapabilities applies capabilities add and drop to the runtime's
// default set as containerd's CRI does: drop ALL empties the set, add ALL
// fills it with every capability, then the named ones are added and
// dropped.
func withCapabilities(add, drop []corev1.Capability) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil || s.Process.Capabilities == nil {
			return fmt.Errorf("capabilities: the spec has no default set")
		}
		set := slices.Clone(s.Process.Capabilities.Bounding)
		isAll := func(c corev1.Capability) bool { return strings.EqualFold(string(c), "ALL") }
		if slices.ContainsFunc(drop, isAll) {
			set = nil
		}
		if slices.ContainsFunc(add, isAll) {
			set = cap.Known()
		}
		for _, c := range add {
			if n := capName(c); !isAll(c) && !slices.Contains(set, n) {
				set = append(set, n)
			}
		}
		for _, c := range drop {
			if isAll(c) {
				continue
			}
			n := capName(c)
			set = slices.DeleteFunc(set, func(x string) bool { return x == n })
		}
		s.Process.Capabilities.Bounding = set
		s.Process.Capabilities.Effective = slices.Clone(set)
		s.Process.Capabilities.Permitted = slices.Clone(set)
		return nil
	}
}

// setVolumeOwnership gives a volume's files to group fsGroup as the kubelet
// does: group read (and write unless readOnly) for files, setgid and
// group search for directories.
func setVolumeOwnership(dir string, fsGroup int64, readOnly bool) error {
	mask := fs.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return os.Lchown(p, -1, int(fsGroup))
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(fsGroup)); err != nil {
			return err
		}
		m := mask
		if d.IsDir() {
			m |= fs.ModeSetgid | 0o110
		}
		return os.Chmod(p, info.Mode()|m)
	})
}
