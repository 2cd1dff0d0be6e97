package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
)

var membersInfo = resourceInfo{
	kind: federation.KindMember, plural: "members", singular: "member",
	shortNames: []string{"mem"}, categories: []string{"lattice"}, fields: []string{"spec.did"},
}

// members serves Member objects. Each is written only by its own member
// (spec and status); the API adds a Reachable condition from this
// member's own membership view, which is what a reader here can vouch for.
type members struct {
	store *crdt.Store
	live  func() []string
}

func (m *members) info() resourceInfo        { return membersInfo }
func (m *members) newObject() runtime.Object { return &federation.Member{} }
func (m *members) newList(items []runtime.Object) runtime.Object {
	return &federation.MemberList{Items: itemsOf[federation.Member](items)}
}

func (m *members) decode(o crdt.Object, live []string) (*federation.Member, error) {
	var mem federation.Member
	if err := json.Unmarshal(o.Value, &mem); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Key, err)
	}
	_, _, _, name := o.Key.Parts()
	mem.Name, mem.Namespace = name, ""
	mem.APIVersion, mem.Kind = federation.APIVersion, federation.KindMember
	mem.ResourceVersion = strconv.FormatUint(o.ResourceVersion, 10)
	if live != nil {
		_, reachable := slices.BinarySearch(live, name)
		c := metav1.Condition{Type: federation.ConditionReachable, Status: metav1.ConditionFalse, Reason: "NotInMembershipView",
			Message: "the member serving this request does not see it alive", LastTransitionTime: mem.Status.LastHeartbeat}
		if reachable {
			c.Status, c.Reason, c.Message = metav1.ConditionTrue, "InMembershipView", "alive in the membership view of the member serving this request"
		}
		meta.SetStatusCondition(&mem.Status.Conditions, c)
	}
	return &mem, nil
}

func (m *members) get(_ context.Context, _, name string) (runtime.Object, error) {
	key, err := federation.MemberStoreKey(name)
	if err != nil {
		return nil, notFound(membersInfo.plural, name)
	}
	o, err := m.store.Get(key)
	if err != nil {
		if errors.Is(err, crdt.ErrNotFound) {
			return nil, notFound(membersInfo.plural, name)
		}
		return nil, storeError(err)
	}
	mem, err := m.decode(o, sortedLive(m.live))
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return mem, nil
}

func (m *members) list(context.Context, string) ([]runtime.Object, error) {
	objs, _, err := m.store.List(federation.MemberPrefix)
	if err != nil {
		return nil, storeError(err)
	}
	live := sortedLive(m.live)
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		if mem, err := m.decode(o, live); err == nil {
			out = append(out, mem)
		}
	}
	return out, nil
}

func (m *members) affected(ev crdt.Event) (string, string, bool, bool) {
	if !strings.HasPrefix(string(ev.Object.Key), federation.MemberPrefix) {
		return "", "", false, false
	}
	_, _, _, name := ev.Object.Key.Parts()
	return "", name, true, true
}

func (m *members) deleted(ev crdt.Event) (runtime.Object, error) { return m.decode(ev.Object, nil) }

func (m *members) fieldSet(o runtime.Object) fields.Set {
	return fields.Set{"spec.did": o.(*federation.Member).Spec.DID}
}

func (m *members) columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Ready", Type: "string", Description: "The member's own Ready condition."},
		{Name: "Reachable", Type: "string", Description: "Alive in the serving member's membership view."},
		{Name: "Cluster", Type: "string", Description: "Cluster driver: embedded or kube."},
		{Name: "Region", Type: "string", Description: "The topology.kubernetes.io/region label."},
		{Name: "DID", Type: "string", Priority: 1, Description: "The member's did:key identity."},
		{Name: "Heartbeat", Type: "string", Description: "Time since the member's last heartbeat."},
	}
}

func (m *members) cells(o runtime.Object) []any {
	mem := o.(*federation.Member)
	return []any{mem.Name, conditionStatus(mem.Status.Conditions, federation.ConditionReady),
		conditionStatus(mem.Status.Conditions, federation.ConditionReachable), mem.Spec.Cluster,
		mem.Labels[federation.LabelRegion], mem.Spec.DID, age(mem.Status.LastHeartbeat)}
}
