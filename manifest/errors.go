package manifest

import "errors"

// ErrUnknownKind is returned for a kind tug does not know.
var ErrUnknownKind = errors.New("unknown kind")

// ErrRevisionRejected is returned by a revision's consumer that refused a
// revision which validated on its own but conflicts with the cluster's state
// (for example a cluster IP another Service holds). The consumer has recorded
// the rejection; retrying the same commit cannot help.
var ErrRevisionRejected = errors.New("revision rejected")
