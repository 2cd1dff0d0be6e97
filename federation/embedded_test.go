package federation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestEmbeddedPlacementReadinessAndFailures(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultEmbeddedConfig()
	cfg.Nodes, cfg.NodeCPU = 2, resource.MustParse("1")
	e, err := NewEmbedded(cfg, func() time.Time { return now })
	require.NoError(t, err)
	w := workloadFor(webDeployment(10), "m1", 10) // 250m each: 8 fit
	require.NoError(t, e.Apply(ctx, w))
	ws, _ := e.Workloads(ctx)
	require.Equal(t, WorkloadStatus{Namespace: "default", Name: "web", Desired: 10, Ready: 0, Unschedulable: 2, Capacity: 8}, ws[0])
	now = now.Add(cfg.StartDelay)
	ws, _ = e.Workloads(ctx)
	require.Equal(t, int32(8), ws[0].Ready)

	// A failed node loses its pods; what fits elsewhere does not.
	require.NoError(t, e.FailNode(0))
	ws, _ = e.Workloads(ctx)
	require.Equal(t, int32(4), ws[0].Ready)
	require.Equal(t, int32(6), ws[0].Unschedulable)
	require.NoError(t, e.RecoverNode(0))
	now = now.Add(cfg.StartDelay)
	ws, _ = e.Workloads(ctx)
	require.Equal(t, int32(8), ws[0].Ready)

	// Requests change, then scale down and delete: nodes are credited what
	// each pod was charged, so the cluster ends empty, not negative.
	w.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("100m")
	w.Replicas = 2
	require.NoError(t, e.Apply(ctx, w))
	require.NoError(t, e.Delete(ctx, "default", "web"))
	_, alloc, err := e.Resources(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2000), alloc.Cpu().MilliValue())
	require.Equal(t, int64(220), alloc.Pods().Value())
	require.Error(t, e.FailNode(5))
	_, err = NewEmbedded(EmbeddedConfig{}, nil)
	require.Error(t, err)
}
