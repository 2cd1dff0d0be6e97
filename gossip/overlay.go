package gossip

import (
	"cmp"
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
//     and to the nearest two of those whose fingers land on it, per level;
//   - local under churn: a join or leave changes the neighbours of the
//     members around its ring position and of those whose fingers cross
//     it, a few dozen, not everyone's.
//
// Digest repair still picks its partner among all live members: it is the
// random long-range exchange that heals what pushes missed, as before.

// ringNeighbours is how many ring successors and predecessors each member
// links to, besides fingers. Redundancy is what these and fingersIn buy:
// until the failure detector removes the members a partition cut off,
// writes spread only over the links left on each side. `lattice sim`
// measured (p99 convergence, messages):
//
//	ringNeighbours, fingersIn        1, 1     2, 2     2, 3
//	degree at 100 / 1,000 members   9 / 11  13 / 17  14 / 19
//	partition, 100 members          3.3 s    0.52 s   0.03 s
//	partition, 1,000 members        11.8 s   3.4 s    3.5 s
//	region outage, 100 members      1.4 s    0.26 s   0.88 s
//	steady, 1,000: B/s per member    904     1,177    1,319
//
// (the steady run's convergence, 13 ms, is the same for all three).
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

// Ring is the hash ring of a member list, from which each member's overlay
// neighbours are read. A node builds one from its live peers and asks for
// itself. The simulator builds one of every member it may run and asks
// for each member over that member's own view of who is live (a
// RingView), as the member's node would over a ring of that view.
type Ring struct {
	m []ringMember
}

// RingView is the part of a ring one member sees live, by ring index
// (Ring.Index).
type RingView interface {
	Has(k int) bool
	Len() int // how many of the ring's members Has admits
}

// NewRing places members on the ring; duplicates count once.
func NewRing(members []crdt.ReplicaID) *Ring {
	r := &Ring{m: make([]ringMember, 0, len(members))}
	for _, id := range members {
		r.m = append(r.m, ringMember{pos: ringPos(id), id: id})
	}
	slices.SortFunc(r.m, compareRing)
	r.m = slices.CompactFunc(r.m, func(a, b ringMember) bool { return a.id == b.id })
	return r
}

// compareRing orders members by position, then ID (positions tie only by
// a 64-bit collision, but every member must break the tie alike).
func compareRing(a, b ringMember) int {
	if c := cmp.Compare(a.pos, b.pos); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// Len is the number of members on the ring.
func (r *Ring) Len() int { return len(r.m) }

// ID returns the member at ring index k.
func (r *Ring) ID(k int) crdt.ReplicaID { return r.m[k].id }

// Index returns id's ring index.
func (r *Ring) Index(id crdt.ReplicaID) (int, bool) {
	i, _ := slices.BinarySearchFunc(r.m, ringMember{pos: ringPos(id), id: id}, compareRing)
	return i, i < len(r.m) && r.m[i].id == id
}

// fingersIn bounds the fingers a member keeps of those landing on it, per
// level: the fingersIn nearest it. A member after a wide gap of the ring
// would otherwise collect the fingers of everyone in a gap-wide arc, at
// every level (106 links for one of 10,000 members, against 28 on
// average). A finger its target does not keep is dropped by its owner as
// well, so the overlay stays symmetric.
const fingersIn = 2

// Neighbours returns self's overlay neighbours among all the ring's
// members, sorted: every other member when there are at most fullMesh of
// them, else its ring successors and predecessors, its fingers and the
// fingers landing on it that it keeps (fingersIn). Self must be on the
// ring; if it is not, Neighbours returns nil.
func (r *Ring) Neighbours(self crdt.ReplicaID, fullMesh int) []crdt.ReplicaID {
	i, ok := r.Index(self)
	if !ok {
		return nil
	}
	idx := r.NeighboursAt(i, fullMesh, nil)
	out := make([]crdt.ReplicaID, len(idx))
	for k, j := range idx {
		out[k] = r.m[j].id
	}
	slices.Sort(out)
	return out
}

// NeighboursAt returns the ring indices of member i's neighbours (sorted,
// distinct) on the ring of the members in admits (nil: all of them): the
// same as Neighbours on a ring built of those members alone. It returns
// nil when in does not admit i.
func (r *Ring) NeighboursAt(i int, fullMesh int, in RingView) []int {
	if i < 0 || i >= len(r.m) || in != nil && !in.Has(i) {
		return nil
	}
	v := ringView{r: r, in: in, n: len(r.m)}
	if in != nil {
		v.n = max(1, in.Len()) // it admits i at least
	}
	if v.n-1 <= fullMesh {
		out := make([]int, 0, v.n-1)
		for k := range r.m {
			if k != i && v.has(k) {
				out = append(out, k)
			}
		}
		return out
	}
	var idx []int
	for a, b, k := i, i, 1; k <= ringNeighbours; k++ {
		a, b = v.next(a), v.prev(b)
		idx = append(idx, a, b)
	}
	me := r.m[i].pos
	var arc []int
	// Fingers at 1/2, 1/4, ... of the ring: beyond about log2 N levels
	// they are all the ring successor.
	for l := 1; l <= bits.Len(uint(v.n)); l++ {
		d := uint64(1) << (64 - l)
		// Self's finger j, if j keeps it.
		if j := v.successor(me + d); j != i {
			arc = v.arc(arc[:0], j, d)
			if k := slices.Index(arc, i); k >= 0 && k >= len(arc)-fingersIn {
				idx = append(idx, j)
			}
		}
		// The fingers self keeps of those landing on it.
		arc = v.arc(arc[:0], i, d)
		idx = append(idx, arc[max(0, len(arc)-fingersIn):]...)
	}
	idx = slices.DeleteFunc(idx, func(k int) bool { return k == i })
	slices.Sort(idx)
	return slices.Compact(idx)
}

// ringView walks the ring over the members a view admits.
type ringView struct {
	r  *Ring
	in RingView // nil: every member
	n  int      // members admitted
}

func (v ringView) has(k int) bool { return v.in == nil || v.in.Has(k) }

// next is the admitted member after k, going round.
func (v ringView) next(k int) int {
	for range len(v.r.m) {
		if k = (k + 1) % len(v.r.m); v.has(k) {
			break
		}
	}
	return k
}

// prev is the admitted member before k, going round.
func (v ringView) prev(k int) int {
	for range len(v.r.m) {
		if k = (k - 1 + len(v.r.m)) % len(v.r.m); v.has(k) {
			break
		}
	}
	return k
}

// successor is the first admitted member at or after position x, going
// round.
func (v ringView) successor(x uint64) int {
	i, _ := slices.BinarySearchFunc(v.r.m, x, func(a ringMember, x uint64) int { return cmp.Compare(a.pos, x) })
	if i == len(v.r.m) {
		i = 0
	}
	if v.has(i) {
		return i
	}
	return v.next(i)
}

// arc appends to dst the admitted members whose finger at distance d is
// member j, in ring order from the arc's start: successor(pos(b)+d) is j
// exactly when pos(b)+d lies in (pos(prev(j)), pos(j)], going round.
func (v ringView) arc(dst []int, j int, d uint64) []int {
	prev := v.r.m[v.prev(j)].pos
	lo := prev - d // exclusive
	width := v.r.m[j].pos - prev
	if width == 0 {
		return dst
	}
	k := v.successor(lo + 1)
	for range v.n {
		if v.r.m[k].pos-lo-1 >= width {
			break
		}
		dst = append(dst, k)
		k = v.next(k)
	}
	return dst
}
