package crdt

import (
	"fmt"
	"maps"
	"slices"
)

// ReplicaID names a writer: in Lattice a member's DID. Ordering between
// concurrent writes with equal HLC readings falls back to comparing IDs, so
// every replica breaks ties the same way.
type ReplicaID string

// MaxReplicaIDLen bounds a writer ID on the wire (a did:key is ~56 bytes).
const MaxReplicaIDLen = 256

// ValidateReplicaID rejects empty, oversized or non-printable IDs.
func ValidateReplicaID(id ReplicaID) error {
	if id == "" {
		return fmt.Errorf("replica id is empty")
	}
	if len(id) > MaxReplicaIDLen {
		return fmt.Errorf("replica id is %d bytes, max %d", len(id), MaxReplicaIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("replica id %q contains a control or space character", string(id))
		}
	}
	return nil
}

// Dot identifies one write: the Seq-th operation of Replica. Seq starts at 1.
type Dot struct {
	Replica ReplicaID
	Seq     uint64
}

func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Replica, d.Seq) }

// Context is a causal context: the set of dots a replica has incorporated,
// kept as a compact version vector plus a cloud of dots beyond it (gaps
// arise when deltas arrive out of order or are lost). The cloud is stored
// as sorted, disjoint ranges per replica, so one missing dot followed by a
// long run of received ones costs one range, not one entry per dot. A state
// that claims a dot in its context reflects that write, or something that
// superseded it.
type Context struct {
	VV    VersionVector
	cloud map[ReplicaID][]dotRange
}

// dotRange is the inclusive run of sequence numbers lo..hi.
type dotRange struct{ lo, hi uint64 }

// NewContext returns an empty context.
func NewContext() *Context {
	return &Context{}
}

// init makes a zero Context usable.
func (c *Context) init() {
	if c.cloud == nil {
		c.cloud = map[ReplicaID][]dotRange{}
	}
}

// Contains reports whether d has been seen.
func (c *Context) Contains(d Dot) bool {
	if d.Seq == 0 {
		return false
	}
	if c.VV.Covers(d) {
		return true
	}
	rs := c.cloud[d.Replica]
	i, _ := slices.BinarySearchFunc(rs, d.Seq, func(r dotRange, seq uint64) int { return cmpUint(r.hi, seq) })
	return i < len(rs) && rs[i].lo <= d.Seq
}

// Add records d and compacts. It reports whether d was new.
func (c *Context) Add(d Dot) bool {
	if d.Seq == 0 || c.Contains(d) {
		return false
	}
	c.addRange(d.Replica, dotRange{d.Seq, d.Seq})
	return true
}

// addRange inserts r into replica id's cloud, coalescing neighbours, then
// folds whatever became contiguous with the vector into it.
func (c *Context) addRange(id ReplicaID, r dotRange) {
	c.init()
	vi, found := c.VV.find(id)
	var have uint64
	if found {
		have = c.VV.e[vi].n
	}
	if r.hi <= have {
		return
	}
	r.lo = max(r.lo, have+1)
	rs := c.cloud[id]
	// First range that ends at or after r.lo-1 (touching or overlapping).
	i, _ := slices.BinarySearchFunc(rs, r.lo-1, func(x dotRange, seq uint64) int { return cmpUint(x.hi, seq) })
	j := i
	for j < len(rs) && rs[j].lo <= r.hi+1 {
		r.lo, r.hi = min(r.lo, rs[j].lo), max(r.hi, rs[j].hi)
		j++
	}
	rs = slices.Replace(rs, i, j, r)
	if rs[0].lo == have+1 {
		if found {
			c.VV.e[vi].n = rs[0].hi
		} else {
			c.VV.e = slices.Insert(c.VV.e, vi, vvEntry{id, rs[0].hi})
		}
		rs = rs[1:]
	}
	if len(rs) == 0 {
		delete(c.cloud, id)
	} else {
		c.cloud[id] = rs
	}
}

// Next returns the next dot for replica id and records it.
func (c *Context) Next(id ReplicaID) Dot {
	c.init()
	d := Dot{Replica: id, Seq: c.VV.Get(id) + 1}
	c.Add(d)
	return d
}

// Merge adds every dot of other.
func (c *Context) Merge(other *Context) {
	if other == nil || other == c {
		return
	}
	c.init()
	if len(c.cloud) == 0 {
		// Without a cloud, adding each of other's runs 1..n moves only
		// the vector: one pass merges them all.
		c.VV.Merge(other.VV)
	} else {
		for id, n := range other.VV.All() {
			if n > c.VV.Get(id) {
				c.addRange(id, dotRange{1, n})
			}
		}
	}
	for id, rs := range other.cloud {
		for _, r := range rs {
			c.addRange(id, r)
		}
	}
}

// beyond returns a context holding every dot of c that other lacks (and
// maybe some it has): c's version-vector entries above other's and c's
// cloud ranges other does not hold whole. Merging it into a context that
// includes other gives what merging c would.
func (c *Context) beyond(other *Context) *Context {
	out := &Context{VV: c.VV.above(other.VV)}
	for id, rs := range c.cloud {
		for _, r := range rs {
			if !other.holdsRange(id, r) {
				if out.cloud == nil {
					out.cloud = map[ReplicaID][]dotRange{}
				}
				out.cloud[id] = append(out.cloud[id], r)
			}
		}
	}
	return out
}

// holdsRange reports whether c holds every dot of id's range r.
func (c *Context) holdsRange(id ReplicaID, r dotRange) bool {
	have := c.VV.Get(id)
	if r.hi <= have {
		return true
	}
	rs := c.cloud[id]
	lo := max(r.lo, have+1)
	i, _ := slices.BinarySearchFunc(rs, lo, func(x dotRange, seq uint64) int { return cmpUint(x.hi, seq) })
	return i < len(rs) && rs[i].lo <= lo && rs[i].hi >= r.hi
}

// Clone returns an independent copy.
func (c *Context) Clone() *Context {
	out := &Context{VV: c.VV.Clone()}
	if len(c.cloud) > 0 {
		out.cloud = make(map[ReplicaID][]dotRange, len(c.cloud))
		for id, rs := range c.cloud {
			out.cloud[id] = slices.Clone(rs)
		}
	}
	return out
}

// CloudDots lists the cloud dots in a deterministic order. It expands the
// ranges, so use it for tests and diagnostics only.
func (c *Context) CloudDots() []Dot {
	out := []Dot{}
	for _, id := range c.cloudReplicas() {
		for _, r := range c.cloud[id] {
			for s := r.lo; s <= r.hi; s++ {
				out = append(out, Dot{Replica: id, Seq: s})
			}
		}
	}
	return out
}

// CloudRanges returns the number of ranges in the cloud.
func (c *Context) CloudRanges() int {
	n := 0
	for _, rs := range c.cloud {
		n += len(rs)
	}
	return n
}

func (c *Context) cloudReplicas() []ReplicaID { return slices.Sorted(maps.Keys(c.cloud)) }

// Equal reports whether both contexts hold the same dots.
func (c *Context) Equal(o *Context) bool {
	if c == nil || o == nil {
		return c == o
	}
	if !c.VV.equalIgnoringZeros(o.VV) {
		return false
	}
	if len(c.cloud) != len(o.cloud) {
		return false
	}
	for id, rs := range c.cloud {
		if !slices.Equal(rs, o.cloud[id]) {
			return false
		}
	}
	return true
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
