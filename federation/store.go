package federation

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/lattice-federation/lattice/crdt"
)

// Store keys of the federation objects.

// DeploymentPrefix, MemberPrefix and PlacementPrefix are the key prefixes
// of each kind.
const (
	DeploymentPrefix = Group + "/" + KindFederatedDeployment + "/"
	MemberPrefix     = Group + "/" + KindMember + "/"
	PlacementPrefix  = Group + "/" + KindPlacementStatus + "/"
)

// MemberStoreKey is the key of member name's Member object.
func MemberStoreKey(name string) (crdt.Key, error) { return crdt.MakeKey(Group, KindMember, "", name) }

// PlacementStoreKey is the key of member's report on deployment ns/name.
func PlacementStoreKey(ns, name, member string) (crdt.Key, error) {
	return crdt.MakeKey(Group, KindPlacementStatus, ns, name+"."+member)
}

// DecodeDeployment decodes and validates a stored FederatedDeployment; the
// store's generation counter is its metadata.generation.
func DecodeDeployment(o crdt.Object) (*FederatedDeployment, error) {
	var d FederatedDeployment
	if err := json.Unmarshal(o.Value, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Key, err)
	}
	_, _, ns, name := o.Key.Parts()
	if d.Namespace == "" {
		d.Namespace = ns
	}
	if d.Name == "" {
		d.Name = name
	}
	if d.Namespace != ns || d.Name != name {
		return nil, fmt.Errorf("%s: object names %s/%s", o.Key, d.Namespace, d.Name)
	}
	d.Generation = int64(o.Generation)
	if errs := ValidateFederatedDeployment(&d); len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", o.Key, errs.ToAggregate())
	}
	return &d, nil
}

// DecodeMember decodes a stored Member.
func DecodeMember(o crdt.Object) (*Member, error) {
	var m Member
	if err := json.Unmarshal(o.Value, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Key, err)
	}
	_, _, _, name := o.Key.Parts()
	if m.Name == "" {
		m.Name = name
	}
	if m.Name != name {
		return nil, fmt.Errorf("%s: object names %s", o.Key, m.Name)
	}
	return &m, nil
}

// DecodePlacement decodes a stored PlacementStatus, checking that its key
// matches the member and deployment it names (a report is only ever
// written under its own member's key).
func DecodePlacement(o crdt.Object) (PlacementReport, error) {
	var p PlacementStatus
	dec := json.NewDecoder(bytes.NewReader(o.Value))
	if err := dec.Decode(&p); err != nil {
		return PlacementReport{}, fmt.Errorf("%s: %w", o.Key, err)
	}
	r := p.Spec
	_, _, ns, name := o.Key.Parts()
	if want := ns + "/" + name; r.Deployment+"."+r.Member != want {
		return PlacementReport{}, fmt.Errorf("%s: report for %s by %s filed under the wrong key", o.Key, r.Deployment, r.Member)
	}
	return r, nil
}
