package federation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Kinds served by the API that are views of other replicated state rather
// than objects of their own: identities come from the ledger feeds and
// Member objects, ledger entries are the feeds' entries.
const (
	KindIdentity    = "Identity"
	KindLedgerEntry = "LedgerEntry"
)

// FederatedDeploymentList is a list of FederatedDeployments.
// +k8s:openapi-gen=true
type FederatedDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FederatedDeployment `json:"items"`
}

// MemberList is a list of Members.
// +k8s:openapi-gen=true
type MemberList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Member `json:"items"`
}

// Identity is a DID known to the federation: the author of a ledger feed
// or the identity of a member. It is read-only: it reflects the verified
// ledger, not something a client can write.
// +k8s:openapi-gen=true
type Identity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IdentitySpec   `json:"spec"`
	Status            IdentityStatus `json:"status,omitempty"`
}

// IdentitySpec is the DID itself.
// +k8s:openapi-gen=true
type IdentitySpec struct {
	// DID is the did:key identifier.
	DID string `json:"did"`
	// PublicKeyMultibase is the Ed25519 verification key the DID encodes.
	PublicKeyMultibase string `json:"publicKeyMultibase,omitempty"`
}

// IdentityStatus is what the federation knows of the DID.
// +k8s:openapi-gen=true
type IdentityStatus struct {
	// Member is the Member object whose spec.did is this DID, if any.
	Member string `json:"member,omitempty"`
	// Registered reports whether the DID's feed holds a DID registration.
	Registered bool `json:"registered"`
	// LedgerEntries is the number of the DID's feed entries this member
	// holds; LedgerHead the highest sequence number among them.
	LedgerEntries int64 `json:"ledgerEntries"`
	LedgerHead    int64 `json:"ledgerHead"`
}

// IdentityList is a list of Identities.
// +k8s:openapi-gen=true
type IdentityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Identity `json:"items"`
}

// LedgerEntry is one signed entry of a member's ledger feed, as stored in
// the replicated database. Read-only.
// +k8s:openapi-gen=true
type LedgerEntry struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              LedgerEntrySpec `json:"spec"`
}

// LedgerEntrySpec is the decoded entry.
// +k8s:openapi-gen=true
type LedgerEntrySpec struct {
	// Author is the DID of the feed's writer.
	Author string `json:"author"`
	// Seq is the entry's position in the feed, from 1.
	Seq int64 `json:"seq"`
	// Type is did-registration, credential, revocation or contract.
	Type string `json:"type"`
	// Time is the author's clock when it appended the entry.
	Time metav1.Time `json:"time"`
	// Prev and Hash are the hex SHA-256 hashes chaining the feed.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
	// Verified reports whether the signature verified with the author's
	// key when this member served the entry.
	Verified bool `json:"verified"`
	// Payload is the entry's JSON payload.
	Payload runtime.RawExtension `json:"payload"`
}

// LedgerEntryList is a list of LedgerEntries.
// +k8s:openapi-gen=true
type LedgerEntryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LedgerEntry `json:"items"`
}

// DeepCopy returns a deep copy.
func (in *FederatedDeploymentList) DeepCopy() *FederatedDeploymentList { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *FederatedDeploymentList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *MemberList) DeepCopy() *MemberList { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *MemberList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *Identity) DeepCopy() *Identity { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *Identity) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *IdentityList) DeepCopy() *IdentityList { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *IdentityList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *LedgerEntry) DeepCopy() *LedgerEntry { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *LedgerEntry) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *LedgerEntryList) DeepCopy() *LedgerEntryList { return jsonCopy(in) }

// DeepCopyObject implements runtime.Object.
func (in *LedgerEntryList) DeepCopyObject() runtime.Object { return in.DeepCopy() }
