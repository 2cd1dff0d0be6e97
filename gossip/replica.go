package gossip

import (
	"context"

	"github.com/lattice-federation/lattice/crdt"
)

// StoreReplica is a member's durable store as a Replica: every reply is
// sent only once the state it acknowledges is synced to disk.
type StoreReplica struct {
	Store *crdt.Store
	// Ctx bounds each call (a stuck disk must not wedge gossip forever).
	Ctx context.Context
}

func (s StoreReplica) ID() crdt.ReplicaID { return s.Store.ID() }

// Seq is the store's latest applied change (its resourceVersion).
func (s StoreReplica) Seq() uint64 { return s.Store.ResourceVersion() }

func (s StoreReplica) DeltaFor(peer crdt.ReplicaID) (*crdt.DeltaMsg, error) {
	return s.Store.DeltaFor(s.Ctx, peer)
}

func (s StoreReplica) StartRepair(peer crdt.ReplicaID) (*crdt.DigestMsg, error) {
	return s.Store.StartRepair(s.Ctx, peer)
}

func (s StoreReplica) Step(m crdt.Message) (crdt.Message, error) { return s.Store.Step(s.Ctx, m) }

// MemoryReplica is a bare in-memory crdt.Replica as a Replica, for the
// simulator and tests: nothing is persisted.
type MemoryReplica struct{ *crdt.Replica }

func (r MemoryReplica) StartRepair(peer crdt.ReplicaID) (*crdt.DigestMsg, error) {
	return r.Replica.StartRepair(peer), nil
}

func (r MemoryReplica) Step(m crdt.Message) (crdt.Message, error) {
	_, reply, err := r.Replica.Step(m)
	return reply, err
}
