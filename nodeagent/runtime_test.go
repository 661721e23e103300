package nodeagent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/google/go-cmp/cmp"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/state"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
)

// TestRuntimeNodeEvents drives observed through two outages of the
// container runtime (containerd's socket does not exist): each outage
// records a Warning ContainerRuntimeUnhealthy event on the Node and each
// recovery a Normal NodeReady, aggregated by count; a pass that fails
// again while down records nothing more.
func TestRuntimeNodeEvents(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn, err := grpc.Dial("unix://"+filepath.Join(dir, "no-containerd.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := containerd.NewWithConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	now := time.Now() // events expire an hour after the store's clock
	a := &Agent{
		cfg:   Config{NodeName: "node-1", DataDir: dir, Client: client, Store: st},
		log:   slog.New(slog.DiscardHandler),
		clock: func() time.Time { return now },
	}
	ctx := context.Background()
	var rs runtimeState
	down := runtimeErr(errors.New("connection refused"))

	type ev struct {
		Kind, Name, Type, Reason, Message, Host string
		Count                                   int32
	}
	events := func() []ev {
		t.Helper()
		objs, err := st.List(manifest.KindEvent, "default")
		if err != nil {
			t.Fatal(err)
		}
		var out []ev
		for _, o := range objs {
			e := o.(*corev1.Event)
			out = append(out, ev{e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Type, e.Reason, e.Message, e.Source.Host, e.Count})
		}
		slices.SortFunc(out, func(a, b ev) int { return strings.Compare(a.Reason, b.Reason) })
		return out
	}
	unhealthy := ev{"Node", "node-1", corev1.EventTypeWarning, "ContainerRuntimeUnhealthy",
		"Container runtime is down: node node-1 is NotReady; nothing is stopped or removed until it answers again", "node-1", 1}
	ready := ev{"Node", "node-1", corev1.EventTypeNormal, "NodeReady", "Node node-1 status is now: NodeReady", "node-1", 1}
	if d := a.observed(ctx, &rs, down); d != runtimeRetryInitial || !rs.down {
		t.Fatalf("first failure: retry in %v, down %v", d, rs.down)
	}
	if diff := cmp.Diff([]ev{unhealthy}, events()); diff != "" {
		t.Errorf("events after the runtime went down (-want +got):\n%s", diff)
	}
	a.observed(ctx, &rs, down) // still down: no new event
	if diff := cmp.Diff([]ev{unhealthy}, events()); diff != "" {
		t.Errorf("events while still down (-want +got):\n%s", diff)
	}
	if d := a.observed(ctx, &rs, nil); d != 0 || rs.down {
		t.Fatalf("recovery: retry in %v, down %v", d, rs.down)
	}
	if diff := cmp.Diff([]ev{unhealthy, ready}, events()); diff != "" {
		t.Errorf("events after the runtime came back (-want +got):\n%s", diff)
	}
	a.observed(ctx, &rs, nil) // still up: nothing more
	a.observed(ctx, &rs, down)
	a.observed(ctx, &rs, nil)
	unhealthy.Count, ready.Count = 2, 2
	if diff := cmp.Diff([]ev{unhealthy, ready}, events()); diff != "" {
		t.Errorf("events after a second outage (-want +got):\n%s", diff)
	}
}
