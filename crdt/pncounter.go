package crdt

import (
	"math"
	"math/bits"
)

// PNCounter is a counter that can go up and down. Each replica only ever
// raises its own entries in P (increments) and N (decrements), so replicas
// merge by pointwise maximum and the value is sum(P) - sum(N). Entries are
// cumulative totals rather than increments, which makes every delta
// idempotent: redelivering or reordering them cannot double-count.
type PNCounter struct {
	P, N map[ReplicaID]uint64
}

// NewPNCounter returns a zero counter.
func NewPNCounter() PNCounter {
	return PNCounter{P: map[ReplicaID]uint64{}, N: map[ReplicaID]uint64{}}
}

// init allocates maps left nil by a zero value or a decoder.
func (c *PNCounter) init() {
	if c.P == nil {
		c.P = map[ReplicaID]uint64{}
	}
	if c.N == nil {
		c.N = map[ReplicaID]uint64{}
	}
}

// Increment adds n on behalf of replica id and returns the delta to ship to
// other replicas: a counter holding only id's new P entry.
func (c *PNCounter) Increment(id ReplicaID, n uint64) PNCounter {
	c.init()
	c.P[id] = pnSatAdd(c.P[id], n)
	return PNCounter{P: map[ReplicaID]uint64{id: c.P[id]}, N: map[ReplicaID]uint64{}}
}

// Decrement subtracts n on behalf of replica id and returns the delta: a
// counter holding only id's new N entry.
func (c *PNCounter) Decrement(id ReplicaID, n uint64) PNCounter {
	c.init()
	c.N[id] = pnSatAdd(c.N[id], n)
	return PNCounter{P: map[ReplicaID]uint64{}, N: map[ReplicaID]uint64{id: c.N[id]}}
}

// pnSatAdd saturates instead of wrapping: a wrapped entry would be smaller
// than what peers already hold, and the pointwise-max merge would then
// silently discard every later update from that replica.
func pnSatAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// Value returns sum(P) - sum(N), clamped to the int64 range. The sums are
// computed in 128 bits so the result is exact whenever it fits.
func (c *PNCounter) Value() int64 {
	ph, pl := pnSum(c.P)
	nh, nl := pnSum(c.N)
	if ph > nh || (ph == nh && pl >= nl) {
		dl, borrow := bits.Sub64(pl, nl, 0)
		dh, _ := bits.Sub64(ph, nh, borrow)
		if dh != 0 || dl > math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(dl)
	}
	dl, borrow := bits.Sub64(nl, pl, 0)
	dh, _ := bits.Sub64(nh, ph, borrow)
	if dh != 0 || dl >= 1<<63 {
		return math.MinInt64
	}
	return -int64(dl)
}

// pnSum adds the entries of m as a 128-bit (hi, lo) pair; addition is
// commutative, so map iteration order cannot affect the result.
func pnSum(m map[ReplicaID]uint64) (hi, lo uint64) {
	for _, v := range m {
		var carry uint64
		lo, carry = bits.Add64(lo, v, 0)
		hi += carry
	}
	return hi, lo
}

// Merge joins o into c: every entry becomes the maximum of both.
func (c *PNCounter) Merge(o PNCounter) {
	c.init()
	pnMergeMax(c.P, o.P)
	pnMergeMax(c.N, o.N)
}

func pnMergeMax(dst, src map[ReplicaID]uint64) {
	for id, n := range src {
		if cur, ok := dst[id]; !ok || n > cur {
			dst[id] = n
		}
	}
}

// Clone returns an independent copy.
func (c *PNCounter) Clone() PNCounter {
	out := PNCounter{
		P: make(map[ReplicaID]uint64, len(c.P)),
		N: make(map[ReplicaID]uint64, len(c.N)),
	}
	for id, n := range c.P {
		out.P[id] = n
	}
	for id, n := range c.N {
		out.N[id] = n
	}
	return out
}

// Equal reports whether both counters hold the same entries. A zero entry
// is the same as a missing one: both mean "nothing seen from that replica".
func (c *PNCounter) Equal(o PNCounter) bool {
	return pnEqualVec(c.P, o.P) && pnEqualVec(c.N, o.N)
}

func pnEqualVec(a, b map[ReplicaID]uint64) bool {
	for id, n := range a {
		if b[id] != n {
			return false
		}
	}
	for id, n := range b {
		if a[id] != n {
			return false
		}
	}
	return true
}
