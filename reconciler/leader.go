package reconciler

import (
	"context"
	"errors"
)

// Leader decides which server runs the control loop. Run calls lead with
// a context that is cancelled when leadership is lost (or ctx ends), once
// each time this server becomes the leader, and returns when ctx ends
// (nil) or when lead returns an error (that error).
type Leader interface {
	Run(ctx context.Context, lead func(ctx context.Context) error) error
}

// SingleServer is the Leader of a cluster with one server: it always leads.
type SingleServer struct{}

// Run calls lead once, for as long as ctx lasts.
func (SingleServer) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	err := lead(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// RunLeading runs the control loop (see Run) while l says this server
// leads.
func (r *Reconciler) RunLeading(ctx context.Context, l Leader) error {
	return l.Run(ctx, r.Run)
}
