package sim

import (
	"slices"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// Anti-entropy peers.
//
// Production hands gossip.Sync every live member (gossip.Node.refreshPeers);
// Sync pushes to all of them up to SyncConfig.FullMesh, and beyond to its
// overlay neighbours (gossip.Ring), while repairs pick among all live
// members. The simulator does exactly that up to fullViewLimit members.
//
// Beyond, it cannot: a full live set costs each member O(N) memory (Sync's
// list, the replica's acknowledgement per peer), O(N^2) in all, 10^8
// entries at 10,000 members. So there each member is handed only its
// overlay neighbours, computed by the same gossip.Ring code over the
// member's own SWIM view (a Ring of every member the run may have, read
// through the view: Ring.NeighboursAt), and Sync is told to push to all it
// is given. The gossip rounds then push to exactly the peers production's
// would. What differs: repairs pick their partner among the neighbours,
// not among all live members, and tombstone collection waits for the
// neighbours only (no scale scenario deletes). BENCHMARKS.md says so.

// viewChanged notes that member j's SWIM view gained or lost t.
func (w *World) viewChanged(j, t int32, added bool) {
	if m := w.members[j]; m.ctl != nil {
		m.ctl.viewChanged(w, t, added)
	}
	w.markPeersDirty(j)
}

func (w *World) markPeersDirty(j int32) {
	m := w.members[j]
	if !m.peersDirty {
		m.peersDirty = true
		w.dirtyPeers = append(w.dirtyPeers, j)
	}
}

// flushPeers recomputes the peer sets of members whose view changed and
// hands them to Sync and the replica, as gossip.Node.refreshPeers does.
func (w *World) flushPeers() {
	for len(w.dirtyPeers) > 0 {
		j := w.dirtyPeers[0]
		w.dirtyPeers = w.dirtyPeers[1:]
		m := w.members[j]
		m.peersDirty = false
		if !m.alive {
			continue
		}
		m.peers = m.peers[:0]
		if w.ring != nil {
			for _, k := range w.ring.NeighboursAt(int(w.ringIdx[j]), w.fullMesh, memberView{w, j}) {
				m.peers = append(m.peers, w.ringMember[k])
			}
		} else {
			w.sw.views[j].each(func(p int32) {
				if p != j {
					m.peers = append(m.peers, p)
				}
			})
		}
		ids := make([]crdt.ReplicaID, len(m.peers))
		for k, p := range m.peers {
			ids[k] = w.members[p].id
		}
		slices.Sort(ids)
		if slices.Equal(ids, m.sync.Peers()) {
			continue
		}
		m.sync.SetPeers(ids)
		m.rep.r.SetPeers(ids)
		m.rep.r.SetPushPeers(m.sync.Targets())
		w.scheduleTick(m)
	}
	w.dirtyPeers = w.dirtyPeers[:0]
}

// memberView is member j's SWIM view as a gossip.RingView.
type memberView struct {
	w *World
	j int32
}

func (v memberView) Has(k int) bool {
	i := v.w.ringMember[k]
	return int(i) < len(v.w.members) && v.w.sw.views[v.j].has(i)
}

func (v memberView) Len() int { return v.w.sw.views[v.j].count() }

// placeOnRing builds the ring of every member the run may have (capacity
// of them), beyond fullViewLimit.
func (w *World) placeOnRing(capacity int) {
	ids := make([]crdt.ReplicaID, capacity)
	for i := range ids {
		ids[i] = memberID(int32(i))
	}
	w.ring = gossip.NewRing(ids)
	w.ringIdx = make([]int32, capacity)
	w.ringMember = make([]int32, capacity)
	for i, id := range ids {
		k, _ := w.ring.Index(id)
		w.ringIdx[i], w.ringMember[k] = int32(k), int32(i)
	}
	w.fullMesh = w.syncCfg.FullMesh
	w.syncCfg.FullMesh = capacity // Sync pushes to all the neighbours it is given
}
