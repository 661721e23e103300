// Package podenv computes a container's environment the way the kubelet
// does, and expands $(VAR) references in env values, commands and args.
//
// It is pure: the ConfigMaps and Secrets of the pod's namespace and the pod's
// runtime facts (IPs, the node's allocatable resources) are passed in.
// resourceFieldRef resolves as in the kubelet (ResourceValue): a limit the
// container does not set is the node's allocatable amount (Runtime for env
// vars; Sources.Allocatable for downwardAPI volume items, rendered by
// package volume).
//
// Order and precedence follow the kubelet: envFrom sources first, in order
// (keys of one source sorted, each with its prefix), then env entries in
// order; a later definition of a name replaces an earlier one. An env value
// may refer to any variable defined before it; command and args may refer
// to the whole container environment. References to undefined variables are
// left as written; "$$" escapes a "$".
//
// Errors name the container and the missing object or key, never a value.
package podenv
