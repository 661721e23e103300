package reconciler

import (
	"context"
	"errors"
	"testing"
)

func TestSingleServerLeads(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name    string
		lead    func(ctx context.Context) error
		cancel  bool
		wantErr error
	}{
		{name: "leads until the context ends", cancel: true, lead: func(ctx context.Context) error { <-ctx.Done(); return nil }},
		{name: "cancellation is not an error", cancel: true, lead: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{name: "the loop's error is returned", lead: func(context.Context) error { return boom }, wantErr: boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			done := make(chan error, 1)
			go func() {
				done <- SingleServer{}.Run(ctx, func(ctx context.Context) error { calls++; return tt.lead(ctx) })
			}()
			if tt.cancel {
				cancel()
			}
			if err := <-done; !errors.Is(err, tt.wantErr) {
				t.Errorf("Run = %v, want %v", err, tt.wantErr)
			}
			if calls != 1 {
				t.Errorf("lead called %d times, want 1", calls)
			}
		})
	}
}
