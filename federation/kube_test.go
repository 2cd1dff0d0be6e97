package federation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Unit test of the kube driver's bookkeeping on client-go's fake clientset;
// the real-cluster test is in kube_cluster_test.go.
func TestKubeDriverOwnsOnlyItsDeployments(t *testing.T) {
	ctx := context.Background()
	foreign := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "theirs"}}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	client := fake.NewClientset(foreign, node)
	k, err := newKube(ctx, KubeConfig{Member: "m1", Resync: time.Minute}, client)
	require.NoError(t, err)
	defer k.Close()

	d := webDeployment(3)
	d.Namespace = "shop"
	d.Spec.Overrides = []Override{{Cluster: "m1", Images: map[string]string{"web": "nginx:1.28"}, Labels: map[string]string{"tier": "edge"}}}
	w := workloadFor(d, "m1", 3)
	require.NoError(t, k.Apply(ctx, w))
	got, err := client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(3), *got.Spec.Replicas)
	require.Equal(t, "nginx:1.28", got.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, ManagedByValue, got.Labels[LabelManagedBy])
	require.Equal(t, "edge", got.Labels["tier"])
	require.Equal(t, "edge", got.Spec.Template.Labels["tier"])
	_, err = client.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	require.NoError(t, err, "namespace created")

	require.Eventually(t, func() bool { ws, _ := k.Workloads(ctx); return len(ws) == 1 }, 5*time.Second, 10*time.Millisecond)
	ws, err := k.Workloads(ctx)
	require.NoError(t, err)
	require.Equal(t, "shop/web", ws[0].Key())
	require.Equal(t, int32(3), ws[0].Desired)
	require.Equal(t, int32(8), ws[0].Capacity, "2 CPUs / 250m")

	// Scale, then a foreign deployment of the same name is never touched.
	w.Replicas = 5
	require.NoError(t, k.Apply(ctx, w))
	got, _ = client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	require.Equal(t, int32(5), *got.Spec.Replicas)
	require.ErrorContains(t, k.Apply(ctx, Workload{Namespace: "default", Name: "theirs", Replicas: 1}), "not Lattice's")
	require.ErrorContains(t, k.Delete(ctx, "default", "theirs"), "not Lattice's")
	_, err = client.AppsV1().Deployments("default").Get(ctx, "theirs", metav1.GetOptions{})
	require.NoError(t, err)

	require.NoError(t, k.Delete(ctx, "shop", "web"))
	require.NoError(t, k.Delete(ctx, "shop", "web"), "deleting a missing one is fine")
	_, err = client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	require.Error(t, err)

	capacity, alloc, err := k.Resources(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2000), capacity.Cpu().MilliValue())
	require.Equal(t, int64(2000), alloc.Cpu().MilliValue())
}
