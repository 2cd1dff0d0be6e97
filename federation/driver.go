package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Workload is what a member runs for one FederatedDeployment: a Deployment
// with the member's replica count and overrides applied.
type Workload struct {
	Namespace string
	Name      string
	Replicas  int32
	// Spec is the Deployment spec (replicas field ignored; Replicas rules).
	Spec appsv1.DeploymentSpec
	// Labels go on the Deployment (overrides' labels).
	Labels map[string]string
}

// Key returns namespace/name.
func (w Workload) Key() string { return w.Namespace + "/" + w.Name }

// TemplateHash identifies the pod template, to notice changes.
func (w Workload) TemplateHash() string {
	b, _ := json.Marshal(w.Spec.Template)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// WorkloadStatus is what the cluster reports for one workload.
type WorkloadStatus struct {
	Namespace, Name string
	// Desired is the replica count asked for; Ready those running and
	// ready; Unschedulable those that fit on no node.
	Desired, Ready, Unschedulable int32
	// Capacity is how many replicas of this workload the cluster could run
	// in all: the placed ones plus what fits in free resources.
	Capacity int32
}

// Key returns namespace/name.
func (s WorkloadStatus) Key() string { return s.Namespace + "/" + s.Name }

// ClusterDriver is a member's local cluster, as the controller drives it.
// Implementations: Embedded (a simulated cluster, the default) and Kube
// (client-go against a real cluster). Only workloads the driver created
// (owned by Lattice) are listed or deleted.
type ClusterDriver interface {
	// Apply creates or updates a workload.
	Apply(ctx context.Context, w Workload) error
	// Delete removes a workload; deleting a missing one is not an error.
	Delete(ctx context.Context, namespace, name string) error
	// Workloads lists the workloads Lattice owns in the cluster.
	Workloads(ctx context.Context) ([]WorkloadStatus, error)
	// Resources returns the cluster's capacity and what is free.
	Resources(ctx context.Context) (capacity, allocatable corev1.ResourceList, err error)
}

// podRequests sums the resource requests of a pod template's containers.
func podRequests(spec *appsv1.DeploymentSpec) (milliCPU, mem int64) {
	for _, c := range spec.Template.Spec.Containers {
		milliCPU += c.Resources.Requests.Cpu().MilliValue()
		mem += c.Resources.Requests.Memory().Value()
	}
	return milliCPU, mem
}

// estimateCapacity is how many pods with the template's requests fit in
// allocatable resources (cpu, memory, pods), capped at MaxInt32.
func estimateCapacity(alloc corev1.ResourceList, spec *appsv1.DeploymentSpec) int32 {
	cpu, mem := podRequests(spec)
	n := int64(math.MaxInt32)
	if q, ok := alloc[corev1.ResourcePods]; ok {
		n = min(n, q.Value())
	}
	if cpu > 0 {
		n = min(n, milliCPU(alloc)/cpu)
	}
	if mem > 0 {
		n = min(n, memBytes(alloc)/mem)
	}
	return int32(max(n, 0))
}

// resourceList is a ResourceList of milli-CPU, memory bytes and pods.
func resourceList(milliCPU, mem, pods int64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
	}
}

// nodeFree is what one node has left for new pods.
type nodeFree struct{ cpu, mem, pods int64 }

// fitFree counts pods with the given requests that fit in the nodes' free
// resources, node by node, capped at 2^30.
func fitFree(free []nodeFree, cpu, mem int64) int32 {
	var total int64
	for _, f := range free {
		k := max(f.pods, 0)
		if cpu > 0 {
			k = min(k, max(f.cpu, 0)/cpu)
		}
		if mem > 0 {
			k = min(k, max(f.mem, 0)/mem)
		}
		total += k
	}
	return int32(min(total, 1<<30))
}

// sortWorkloads orders statuses by namespace/name.
func sortWorkloads(ws []WorkloadStatus) {
	slices.SortFunc(ws, func(a, b WorkloadStatus) int { return strings.Compare(a.Key(), b.Key()) })
}
