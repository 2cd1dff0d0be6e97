package apiserver

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/lattice-federation/lattice/crdt"
)

// resourceInfo names a served resource and its scope.
type resourceInfo struct {
	kind, plural, singular string
	shortNames, categories []string
	namespaced             bool
	// fields are the field-selector labels served beyond metadata.name
	// (and metadata.namespace for namespaced resources).
	fields []string
}

// fieldLabel is the scheme's field-label conversion for the resource: it
// accepts the labels the resource serves and refuses the rest.
func (r resourceInfo) fieldLabel(label, value string) (string, string, error) {
	switch {
	case label == "metadata.name",
		label == "metadata.namespace" && r.namespaced,
		slices.Contains(r.fields, label):
		return label, value, nil
	}
	return "", "", fmt.Errorf("field label %q is not supported for %s", label, r.plural)
}

// objectFields returns the field set a field selector is matched against.
func (r resourceInfo) objectFields(m metav1.Object, extra fields.Set) fields.Set {
	set := fields.Set{"metadata.name": m.GetName()}
	if r.namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	for k, v := range extra {
		set[k] = v
	}
	return set
}

// resources lists every served resource. Adding a resource is a backend
// plus one line here and one in Server.install.
func resources() []resourceInfo {
	return []resourceInfo{deploymentsInfo, membersInfo, identitiesInfo, ledgerEntriesInfo}
}

// backend builds one resource's API objects from the replicated store.
// Objects may be views over several store keys (a FederatedDeployment's
// status is aggregated from the members' placement reports); the object's
// resourceVersion is the highest resourceVersion among them.
type backend interface {
	info() resourceInfo
	newObject() runtime.Object
	newList(items []runtime.Object) runtime.Object
	// get returns one object or a NotFound status error.
	get(ctx context.Context, ns, name string) (runtime.Object, error)
	// list returns the objects in namespace ns ("" for all), sorted by
	// namespace and name.
	list(ctx context.Context, ns string) ([]runtime.Object, error)
	// affected maps a store change to the object it may change. primary
	// means the key is the object's own key (its deletion deletes the
	// object); ok is false when the change concerns no object.
	affected(ev crdt.Event) (ns, name string, primary, ok bool)
	// deleted builds the last state of an object from the deletion event
	// of its primary key.
	deleted(ev crdt.Event) (runtime.Object, error)
	// fieldSet returns the fields the resource's field selectors match.
	fieldSet(obj runtime.Object) fields.Set
	// columns and cells render objects for kubectl get: the columns, and
	// an object's cells in their order.
	columns() []metav1.TableColumnDefinition
	cells(o runtime.Object) []any
}

// itemsOf converts a backend's objects (all *T) to a list's items.
func itemsOf[T any](objs []runtime.Object) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		out = append(out, *any(o).(*T))
	}
	return out
}

// sortedLive returns the membership view sorted and deduplicated, for
// binary search.
func sortedLive(live func() []string) []string {
	l := slices.Clone(live())
	slices.Sort(l)
	return slices.Compact(l)
}
