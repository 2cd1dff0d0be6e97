package federation

// OpenAPI model names of the API types: the served OpenAPI documents and
// the scheme name each type by these (reverse-domain, versioned), so
// kubectl explain finds them. Keep one per +k8s:openapi-gen type.

// OpenAPIModelName implements the OpenAPI model namer.
func (ClusterLimit) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.ClusterLimit" }

// OpenAPIModelName implements the OpenAPI model namer.
func (ClusterWeight) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.ClusterWeight"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (FederatedDeployment) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.FederatedDeployment"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (FederatedDeploymentList) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.FederatedDeploymentList"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (FederatedDeploymentSpec) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.FederatedDeploymentSpec"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (FederatedDeploymentStatus) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.FederatedDeploymentStatus"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (Identity) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.Identity" }

// OpenAPIModelName implements the OpenAPI model namer.
func (IdentityList) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.IdentityList" }

// OpenAPIModelName implements the OpenAPI model namer.
func (IdentitySpec) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.IdentitySpec" }

// OpenAPIModelName implements the OpenAPI model namer.
func (IdentityStatus) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.IdentityStatus"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (LedgerEntry) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.LedgerEntry" }

// OpenAPIModelName implements the OpenAPI model namer.
func (LedgerEntryList) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.LedgerEntryList"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (LedgerEntrySpec) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.LedgerEntrySpec"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (Member) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.Member" }

// OpenAPIModelName implements the OpenAPI model namer.
func (MemberList) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.MemberList" }

// OpenAPIModelName implements the OpenAPI model namer.
func (MemberReplicaStatus) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.MemberReplicaStatus"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (MemberSpec) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.MemberSpec" }

// OpenAPIModelName implements the OpenAPI model namer.
func (MemberStatus) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.MemberStatus" }

// OpenAPIModelName implements the OpenAPI model namer.
func (Override) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.Override" }

// OpenAPIModelName implements the OpenAPI model namer.
func (Placement) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.Placement" }

// OpenAPIModelName implements the OpenAPI model namer.
func (PlacementReport) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.PlacementReport"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (PlacementStatus) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.PlacementStatus"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (ReplicaScheduling) OpenAPIModelName() string {
	return "dev.lattice.federation.v1alpha1.ReplicaScheduling"
}

// OpenAPIModelName implements the OpenAPI model namer.
func (SLO) OpenAPIModelName() string { return "dev.lattice.federation.v1alpha1.SLO" }
