package gossip

import (
	"math/bits"
	"slices"

	"github.com/lattice-federation/lattice/crdt"
)

// The push overlay.
//
// Delta anti-entropy keeps, per peer, what the peer acknowledged, and
// pushes a change to a peer until it acknowledges it or reports having it.
// Pushing to every live member makes every member send every change to
// every other: N^2 messages a write, which `lattice sim` measured at 1.7 N
// messages per member per write. Beyond a small federation each member
// therefore pushes only to its overlay neighbours: a graph every member
// computes alone from the live member list, with no coordination, that is
//
//   - symmetric: a is b's neighbour exactly when b is a's (given the same
//     list), so each link carries acknowledgements both ways;
//   - connected: it contains the ring of members ordered by a hash of their
//     IDs, so a change reaches everyone by pushes alone;
//   - of O(log N) diameter and degree: each member links to the first
//     member at 1/2, 1/4, ... of the hash ring past it (Chord's fingers),
//     and to the nearest two of those whose fingers land on it;
//   - local under churn: a join or leave changes the neighbours of the
//     members around its ring position and of those whose fingers cross
//     it, a few dozen, not everyone's.
//
// Digest repair still picks its partner among all live members: it is the
// random long-range exchange that heals what pushes missed, as before.

// ringNeighbours is how many ring successors and predecessors each member
// links to, besides fingers: two each keep the ring connected across one
// member the others have not yet seen leave.
const ringNeighbours = 2

// ringPos is a member's position on the hash ring: 64 bits of a hash of its
// ID. FNV-1a spread by SplitMix64's finalizer: deterministic everywhere
// (every member must compute the same ring), cheap, and well mixed.
func ringPos(id crdt.ReplicaID) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// ringMember is one member placed on the ring.
type ringMember struct {
	pos uint64
	id  crdt.ReplicaID
}

// Ring is the hash ring of a live member list, from which each member's
// overlay neighbours are read. Build it once and ask it for every member
// (the simulator does); a node asks only for itself.
type Ring struct {
	m []ringMember
}

// NewRing places members on the ring; duplicates count once.
func NewRing(members []crdt.ReplicaID) *Ring {
	r := &Ring{m: make([]ringMember, 0, len(members))}
	for _, id := range members {
		r.m = append(r.m, ringMember{pos: ringPos(id), id: id})
	}
	slices.SortFunc(r.m, func(a, b ringMember) int {
		if a.pos != b.pos {
			if a.pos < b.pos {
				return -1
			}
			return 1
		}
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	r.m = slices.CompactFunc(r.m, func(a, b ringMember) bool { return a.id == b.id })
	return r
}

// Len is the number of members on the ring.
func (r *Ring) Len() int { return len(r.m) }

// index returns self's index on the ring.
func (r *Ring) index(self crdt.ReplicaID) (int, bool) {
	p := ringPos(self)
	i, _ := slices.BinarySearchFunc(r.m, ringMember{pos: p, id: self}, func(a, b ringMember) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return i, i < len(r.m) && r.m[i].id == self
}

// successor is the index of the first member at or after position x,
// going round.
func (r *Ring) successor(x uint64) int {
	i, _ := slices.BinarySearchFunc(r.m, x, func(a ringMember, x uint64) int {
		if a.pos < x {
			return -1
		}
		if a.pos > x {
			return 1
		}
		return 0
	})
	if i == len(r.m) {
		return 0
	}
	return i
}

// arc returns the members whose finger at distance d is member j, as a
// run of count ring indices from start: successor(pos(b)+d) is j exactly
// when pos(b)+d lies in (pos(j-1), pos(j)], going round.
func (r *Ring) arc(j int, d uint64) (start, count int) {
	n := len(r.m)
	prev := r.m[(j-1+n)%n].pos
	lo := prev - d // exclusive
	width := r.m[j].pos - prev
	start = r.successor(lo + 1)
	for k := start; width > 0 && count < n && r.m[k].pos-lo-1 < width; k = (k + 1) % n {
		count++
	}
	return start, count
}

// fingersIn bounds the fingers a member keeps of those landing on it, per
// level: the fingersIn nearest it. A member after a wide gap of the ring
// would otherwise collect the fingers of everyone in a gap-wide arc, at
// every level (106 links for one of 10,000 members, against 28 on
// average). A finger its target does not keep is dropped by its owner as
// well, so the overlay stays symmetric.
const fingersIn = 2

// Neighbours returns self's overlay neighbours, sorted: every other member
// when there are at most fullMesh of them, else its ring successors and
// predecessors, its fingers and the fingers landing on it that it keeps
// (fingersIn). Self must be on the ring; if it is not, Neighbours returns
// nil.
func (r *Ring) Neighbours(self crdt.ReplicaID, fullMesh int) []crdt.ReplicaID {
	i, ok := r.index(self)
	if !ok {
		return nil
	}
	n := len(r.m)
	if n-1 <= fullMesh {
		out := make([]crdt.ReplicaID, 0, n-1)
		for _, m := range r.m {
			if m.id != self {
				out = append(out, m.id)
			}
		}
		slices.Sort(out)
		return out
	}
	var idx []int
	for k := 1; k <= ringNeighbours; k++ {
		idx = append(idx, (i+k)%n, (i-k+n)%n)
	}
	me := r.m[i].pos
	// Fingers at 1/2, 1/4, ... of the ring: beyond about log2 N levels
	// they are all the ring successor.
	for l := 1; l <= bits.Len(uint(n)); l++ {
		d := uint64(1) << (64 - l)
		// Self's finger j, if j keeps it.
		if j := r.successor(me + d); j != i {
			start, count := r.arc(j, d)
			if (i-start+n)%n >= count-fingersIn {
				idx = append(idx, j)
			}
		}
		// The fingers self keeps of those landing on it.
		start, count := r.arc(i, d)
		for k := max(0, count-fingersIn); k < count; k++ {
			idx = append(idx, (start+k)%n)
		}
	}
	out := make([]crdt.ReplicaID, 0, len(idx))
	for _, j := range idx {
		if j != i {
			out = append(out, r.m[j].id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
