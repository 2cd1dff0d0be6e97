// Package manifest reads the Kubernetes-style objects that 'lattice apply'
// writes: YAML (one or more documents separated by "---") or JSON (one object,
// a stream of objects, or a List), and turns each into a validated,
// normalized JSON object with its store key.
//
// Rules, applied to every object (also to objects that reach a member's admin
// socket, which re-validates them):
//
//   - apiVersion is "VERSION" (the core group, e.g. "v1") or "GROUP/VERSION";
//     the group names the store key's group ("" for the core group).
//   - kind is required; "List" (or any kind ending in "List" that has an
//     "items" array) is expanded into its items.
//   - metadata.name is required (generateName is not supported).
//   - Scope: until the API server registers real resource scopes, every kind
//     is namespaced except Member, which is cluster-scoped. A namespaced object
//     without metadata.namespace gets "default" (written into the object, as
//     the Kubernetes API server does); a namespace on a Member is dropped,
//     also as Kubernetes does for cluster-scoped objects.
//   - metadata.resourceVersion and metadata.generation are dropped: the store
//     assigns them (resourceVersion is per member) and serves them beside the
//     object, so a copy inside it would only go stale.
//   - The normalized JSON must fit the store's object limit (1.5 MiB).
//
// The store key is crdt.MakeKey(group, kind, namespace, name).
package manifest
