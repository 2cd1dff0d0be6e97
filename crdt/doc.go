// Package crdt is Lattice's replicated database: the pure, deterministic CRDT
// core every other package drives, and the durable Store a member runs.
//
// It owns:
//
//   - the hybrid logical clock (Clock, Timestamp) that orders writes;
//   - dots, version vectors and causal contexts (Dot, VersionVector, Context);
//   - general CRDT types (LWWRegister, PNCounter, ORMap) with property-tested
//     merge laws;
//   - the JSON document CRDT (Document) that stores API objects: maps merge per
//     key recursively, scalars and lists are last-writer-wins registers ordered
//     by (HLC, writer), deletes are tombstones;
//   - Replica, the sans-IO replication core: local mutations produce deltas,
//     remote deltas are joined, a delta buffer with per-peer acknowledgements
//     feeds anti-entropy, Merkle-style digests drive repair of whatever deltas
//     could not, and tombstones are pruned once causally stable;
//   - the versioned msgpack wire format with hard size limits (wire.go);
//   - Store, which wraps a Replica with badger persistence (a write is
//     acknowledged only once synced), resourceVersions and watch.
//
// Replica never opens sockets, sleeps or reads the wall clock: time enters
// through the PhysicalClock given to its Clock, so the simulator drives the
// very same code on virtual time. The package knows nothing of networks,
// Kubernetes or federation.
package crdt
