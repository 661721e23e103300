package nodeagent

import (
	"context"
	"fmt"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// observation is what the agent finds on the node in one pass.
type observation struct {
	containers []Container
	sandboxes  map[types.UID]string // pod UID → pod IP
	leftovers  []types.UID          // UIDs with a netns, CNI state, pod dir or idle pod cgroup
}

// observe lists tug's containers (a containerd call), takes their tasks
// from the task cache (taskcache.go; a List only when it is not valid),
// and reads the pods' network and directory state.
func (a *Agent) observe(ctx context.Context, pods []*corev1.Pod) (observation, error) {
	var obs observation
	// Only this node's containers: agents of several nodes may share one
	// containerd namespace (tests do).
	recs, err := a.cfg.Client.ContainerService().List(ctx,
		fmt.Sprintf("labels.%q,labels.%q==%q", LabelPodUID, LabelNode, a.cfg.NodeName))
	if err != nil {
		return obs, runtimeErr(fmt.Errorf("list containers: %w", err))
	}
	tasks, err := a.tasks.ensure(ctx, a.listTasks) // see taskcache.go
	if err != nil {
		return obs, err
	}
	for _, r := range recs {
		c, ok := containerFromLabels(r.ID, r.Labels)
		if !ok {
			continue
		}
		if t, ok := tasks[r.ID]; ok {
			c.Task, c.Pid = t.state, t.pid
			if c.Task == TaskStopped {
				c.ExitCode, c.ExitedAt = int32(t.exitCode), t.exitedAt
			}
		}
		obs.containers = append(obs.containers, c)
	}

	leftovers, err := a.net.Pods()
	if err != nil {
		return obs, fmt.Errorf("list pod networks: %w", err)
	}
	dirs, err := a.podDirUIDs()
	if err != nil {
		return obs, fmt.Errorf("list pod directories: %w", err)
	}
	obs.leftovers = append(leftovers, dirs...)
	obs.leftovers = append(obs.leftovers, hostCgroups().idlePods(a.clock(), idlePodCgroupAge)...)

	obs.sandboxes = map[types.UID]string{}
	for _, p := range pods {
		if ip, ok := a.sandboxIP(p); ok {
			obs.sandboxes[p.UID] = ip
		}
	}
	return obs, nil
}

func taskState(s tasktypes.Status) TaskState {
	switch s {
	case tasktypes.Status_CREATED:
		return TaskCreated
	case tasktypes.Status_RUNNING:
		return TaskRunning
	case tasktypes.Status_STOPPED:
		return TaskStopped
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return TaskPaused
	}
	return TaskUnknown
}

// listTasks lists every task of the agent's containerd namespace (a
// question to every shim).
func (a *Agent) listTasks(ctx context.Context) ([]*tasktypes.Process, error) {
	resp, err := a.cfg.Client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, runtimeErr(fmt.Errorf("list tasks: %w", err))
	}
	return resp.Tasks, nil
}
