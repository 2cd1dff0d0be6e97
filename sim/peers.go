package sim

import (
	"slices"

	"github.com/lattice-federation/lattice/crdt"
)

// Anti-entropy peer views.
//
// Production hands gossip.Sync every live member (gossip.Node.refreshPeers).
// The simulator does the same up to fullViewLimit members (or PeerView, when
// set larger). Beyond that it gives each member a random partial view of
// PeerView (default DefaultPeerView) live members, kept symmetric (if a has
// b, b has a, up to 2*PeerView entries) and refilled from the SWIM view as
// members die or leave. Why: Sync's round shuffles the whole peer list and
// asks the replica for a delta for each peer until Fanout have one, and the
// replica keeps an acknowledgement per peer, so a full view costs O(N) time
// per round and O(N) memory per member: O(N^2) in all, which at 10,000
// members is 10^8 acknowledgement entries. The epidemic over a random
// regular graph of degree >= 32 spreads in the same O(log N) rounds, but the
// figures beyond fullViewLimit are for this partial-view variant, which is
// not what the production node does; BENCHMARKS.md says so.

// viewChanged notes that member j's SWIM view gained or lost t.
func (w *World) viewChanged(j, t int32, added bool) {
	if m := w.members[j]; m.ctl != nil {
		m.ctl.viewChanged(w, t, added)
	}
	if !w.partial {
		w.markPeersDirty(j)
		return
	}
	if !added && slices.Contains(w.members[j].peers, t) {
		w.markPeersDirty(j)
	}
	if added && len(w.members[j].peers) < w.peerView {
		w.markPeersDirty(j)
	}
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
		if w.partial {
			w.refillPartial(m)
		} else {
			m.peers = m.peers[:0]
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

// refillPartial drops peers no longer in m's view and tops the partial
// view up with random members of the view that have room.
func (w *World) refillPartial(m *member) {
	v := w.sw.views[m.idx]
	m.peers = slices.DeleteFunc(m.peers, func(p int32) bool { return !v.has(p) })
	for tries := 0; len(m.peers) < w.peerView && tries < 4*w.peerView; tries++ {
		c := w.randomInView(m.idx, -1)
		if c < 0 {
			break
		}
		o := w.members[c]
		if slices.Contains(m.peers, c) || !o.alive || len(o.peers) >= 2*w.peerView {
			continue
		}
		m.peers = append(m.peers, c)
		if !slices.Contains(o.peers, m.idx) {
			o.peers = append(o.peers, m.idx)
			w.markPeersDirty(c)
		}
		// Being contacted tells c that m is alive (as a push-pull on
		// connect does); otherwise c would drop a joiner it has not yet
		// heard of from its list at once, and the link would be one-way.
		if !w.sw.views[c].has(m.idx) {
			w.sw.views[c].set(m.idx)
			w.viewChanged(c, m.idx, true)
		}
	}
	slices.Sort(m.peers)
}
