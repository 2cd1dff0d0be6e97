package federation

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// API group and version of the federation types.
const (
	Group      = "federation.lattice.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// Kinds, and the store kind of per-member FederatedDeployment status.
const (
	KindMember              = "Member"
	KindFederatedDeployment = "FederatedDeployment"
	// KindPlacementStatus objects hold one member's report on one
	// FederatedDeployment; only that member writes them (single writer),
	// keyed <namespace>/<name>.<member>.
	KindPlacementStatus = "PlacementStatus"
)

// Well-known member labels.
const (
	LabelRegion   = "topology.kubernetes.io/region"
	LabelZone     = "topology.kubernetes.io/zone"
	LabelProvider = "federation.lattice.dev/provider"
)

// Condition types.
const (
	// Member conditions.
	ConditionReady     = "Ready"
	ConditionReachable = "Reachable"
	// FederatedDeployment conditions.
	ConditionAvailable   = "Available"
	ConditionScheduled   = "Scheduled"
	ConditionSLOViolated = "SLOViolated"
)

// Member is one member cluster of the federation. Its owning member
// publishes it (spec and status) and refreshes the heartbeat; every other
// member only reads it.
// +k8s:openapi-gen=true
type Member struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MemberSpec   `json:"spec,omitempty"`
	Status            MemberStatus `json:"status,omitempty"`
}

// MemberSpec describes a member.
// +k8s:openapi-gen=true
type MemberSpec struct {
	// DID is the member's did:key identity.
	DID string `json:"did"`
	// Endpoints are where the member is reached (gossip, API).
	Endpoints []string `json:"endpoints,omitempty"`
	// Cluster names the cluster driver: "embedded" or "kube".
	Cluster string `json:"cluster,omitempty"`
}

// MemberStatus is the member's own report.
// +k8s:openapi-gen=true
type MemberStatus struct {
	// Capacity and Allocatable are the cluster's totals (cpu, memory,
	// pods) and what is still free for new pods.
	Capacity    corev1.ResourceList `json:"capacity,omitempty"`
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// LastHeartbeat is when the member last refreshed this status.
	LastHeartbeat metav1.Time `json:"lastHeartbeat,omitempty"`
	// Incarnation changes every time the member's controller starts; a
	// report from an earlier incarnation describes a cluster state that
	// may be gone.
	Incarnation string             `json:"incarnation,omitempty"`
	Conditions  []metav1.Condition `json:"conditions,omitempty"`
}

// SchedulingType says how replicas spread over the selected members.
type SchedulingType string

const (
	// Duplicated runs the full replica count on every selected member.
	Duplicated SchedulingType = "Duplicated"
	// Divided splits the replica count among the selected members.
	Divided SchedulingType = "Divided"
)

// FederatedDeployment is a Deployment declared once for the federation.
// +k8s:openapi-gen=true
type FederatedDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              FederatedDeploymentSpec   `json:"spec,omitempty"`
	Status            FederatedDeploymentStatus `json:"status,omitempty"`
}

// FederatedDeploymentSpec is the user's intent.
// +k8s:openapi-gen=true
type FederatedDeploymentSpec struct {
	// Replicas is the federation-wide replica count (Divided) or the count
	// per selected member (Duplicated). Default 1.
	Replicas *int32 `json:"replicas,omitempty"`
	// Template is the Deployment spec each member runs; its replicas field
	// is ignored (the scheduler sets it per member).
	Template          appsv1.DeploymentSpec `json:"template"`
	Placement         Placement             `json:"placement,omitempty"`
	ReplicaScheduling ReplicaScheduling     `json:"replicaScheduling,omitempty"`
	// Overrides adjust the template for named members.
	Overrides []Override `json:"overrides,omitempty"`
	// SLO, if set, is watched: violations set the SLOViolated condition,
	// re-place the shortfall and POST alerts.
	SLO *SLO `json:"slo,omitempty"`
}

// Placement selects the members that may run replicas.
// +k8s:openapi-gen=true
type Placement struct {
	// ClusterSelector selects members by label (nil: every member).
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
	// Clusters, if set, restricts placement to these member names.
	Clusters []string `json:"clusters,omitempty"`
	// MaxClusters bounds how many members run replicas (0: no bound).
	MaxClusters int32 `json:"maxClusters,omitempty"`
	// SpreadByLabel spreads the chosen members over the values of this
	// label (e.g. topology.kubernetes.io/region) before doubling up.
	SpreadByLabel string `json:"spreadByLabel,omitempty"`
}

// ReplicaScheduling says how replicas are divided.
// +k8s:openapi-gen=true
type ReplicaScheduling struct {
	// Type is Duplicated or Divided (default Divided).
	Type SchedulingType `json:"type,omitempty"`
	// Weights are static weights per member (default 1 each) for Divided.
	Weights []ClusterWeight `json:"weights,omitempty"`
	// Limits bound the replicas per member.
	Limits []ClusterLimit `json:"limits,omitempty"`
	// CapacityAware caps each member at what it reports it can run and
	// weights by free capacity instead of static weights.
	CapacityAware bool `json:"capacityAware,omitempty"`
}

// ClusterWeight is a static weight for one member.
// +k8s:openapi-gen=true
type ClusterWeight struct {
	Cluster string `json:"cluster"`
	Weight  int32  `json:"weight"`
}

// ClusterLimit bounds the replicas of one member.
// +k8s:openapi-gen=true
type ClusterLimit struct {
	Cluster string `json:"cluster"`
	Min     int32  `json:"min,omitempty"`
	// Max 0 means no bound.
	Max int32 `json:"max,omitempty"`
}

// Override adjusts the template for one member.
// +k8s:openapi-gen=true
type Override struct {
	Cluster string `json:"cluster"`
	// Images replaces container images, by container name.
	Images map[string]string `json:"images,omitempty"`
	// Labels are added to the Deployment and its pod template.
	Labels map[string]string `json:"labels,omitempty"`
	// Env adds or replaces environment variables in every container.
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// SLO states service levels for a FederatedDeployment.
// +k8s:openapi-gen=true
type SLO struct {
	// MinAvailable is the fewest ready replicas federation-wide.
	MinAvailable int32 `json:"minAvailable,omitempty"`
	// MaxUnschedulableSeconds is how long replicas may stay unschedulable.
	MaxUnschedulableSeconds int32 `json:"maxUnschedulableSeconds,omitempty"`
	// Webhooks receive a JSON alert (POST) when a violation starts and ends.
	Webhooks []string `json:"webhooks,omitempty"`
}

// FederatedDeploymentStatus is aggregated from the members' reports.
// +k8s:openapi-gen=true
type FederatedDeploymentStatus struct {
	ObservedGeneration    int64                 `json:"observedGeneration,omitempty"`
	Replicas              int32                 `json:"replicas"`
	ReadyReplicas         int32                 `json:"readyReplicas"`
	UnschedulableReplicas int32                 `json:"unschedulableReplicas,omitempty"`
	Members               []MemberReplicaStatus `json:"members,omitempty"`
	Conditions            []metav1.Condition    `json:"conditions,omitempty"`
}

// MemberReplicaStatus is one member's share.
// +k8s:openapi-gen=true
type MemberReplicaStatus struct {
	Member        string `json:"member"`
	Desired       int32  `json:"desired"`
	Ready         int32  `json:"ready"`
	Unschedulable int32  `json:"unschedulable,omitempty"`
}

// PlacementStatus is one member's report on one FederatedDeployment,
// written only by that member.
// +k8s:openapi-gen=true
type PlacementStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PlacementReport `json:"spec"`
}

// PlacementReport is what a member runs for a FederatedDeployment.
// +k8s:openapi-gen=true
type PlacementReport struct {
	Member     string `json:"member"`
	Deployment string `json:"deployment"` // namespace/name
	// Incarnation is the member's incarnation that wrote the report.
	Incarnation string `json:"incarnation"`
	// ObservedGeneration is the FederatedDeployment generation acted on.
	ObservedGeneration int64 `json:"observedGeneration"`
	// Assigned is the member's share by the scheduler; Desired what it
	// runs (more than Assigned while make-before-break holds surplus).
	Assigned      int32 `json:"assigned"`
	Desired       int32 `json:"desired"`
	Ready         int32 `json:"ready"`
	Unschedulable int32 `json:"unschedulable"`
	// Shortfall is what the scheduler, run by this member, could place on
	// no member (the same federation-wide figure on every member that
	// agrees on the state; not a count of this member's pods).
	Shortfall int32 `json:"shortfall,omitempty"`
	// Capacity is how many replicas of this deployment the member could
	// run in all (running ones plus what fits in its free resources).
	Capacity int32 `json:"capacity"`
	// UnschedulableSince is when replicas first became unschedulable (zero
	// when none are).
	UnschedulableSince *metav1.Time `json:"unschedulableSince,omitempty"`
	Updated            metav1.Time  `json:"updated"`
}

// ReplicasOrDefault returns spec.replicas or 1.
func (s *FederatedDeploymentSpec) ReplicasOrDefault() int32 {
	if s.Replicas == nil {
		return 1
	}
	return *s.Replicas
}

// SchedulingTypeOrDefault returns the scheduling type, Divided by default.
func (r ReplicaScheduling) SchedulingTypeOrDefault() SchedulingType {
	if r.Type == "" {
		return Divided
	}
	return r.Type
}

// Quantity helpers used by drivers and the scheduler.
func milliCPU(l corev1.ResourceList) int64 {
	if q, ok := l[corev1.ResourceCPU]; ok {
		return q.MilliValue()
	}
	return 0
}

func memBytes(l corev1.ResourceList) int64 {
	if q, ok := l[corev1.ResourceMemory]; ok {
		return q.Value()
	}
	return 0
}
