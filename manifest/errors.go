package manifest

import "errors"

// ErrUnknownKind is returned for a kind tug does not know.
var ErrUnknownKind = errors.New("unknown kind")
