package crdt

import (
	"fmt"
	"slices"
	"strings"
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

// VersionVector maps a replica to the highest Seq such that every dot of that
// replica up to it has been seen.
type VersionVector map[ReplicaID]uint64

// Clone returns an independent copy.
func (v VersionVector) Clone() VersionVector {
	out := make(VersionVector, len(v))
	for k, n := range v {
		out[k] = n
	}
	return out
}

// Merge raises every entry of v to at least other's.
func (v VersionVector) Merge(other VersionVector) {
	for k, n := range other {
		if n > v[k] {
			v[k] = n
		}
	}
}

// Covers reports whether dot d is within v.
func (v VersionVector) Covers(d Dot) bool { return d.Seq <= v[d.Replica] }

// Replicas returns the IDs in v, sorted.
func (v VersionVector) Replicas() []ReplicaID {
	ids := make([]ReplicaID, 0, len(v))
	for k := range v {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	return ids
}

func (v VersionVector) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range v.Replicas() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", id, v[id])
	}
	b.WriteByte('}')
	return b.String()
}

// Context is a causal context: the set of dots a replica has incorporated,
// kept as a compact version vector plus a cloud of dots beyond it (gaps
// arise when deltas arrive out of order). A state that claims a dot in its
// context reflects that write, or something that superseded it.
type Context struct {
	VV    VersionVector
	Cloud map[Dot]struct{}
}

// NewContext returns an empty context.
func NewContext() *Context {
	return &Context{VV: VersionVector{}, Cloud: map[Dot]struct{}{}}
}

// Contains reports whether d has been seen.
func (c *Context) Contains(d Dot) bool {
	if d.Seq == 0 {
		return false
	}
	if c.VV.Covers(d) {
		return true
	}
	_, ok := c.Cloud[d]
	return ok
}

// Add records d and compacts. It reports whether d was new.
func (c *Context) Add(d Dot) bool {
	c.init()
	if d.Seq == 0 || c.Contains(d) {
		return false
	}
	if d.Seq == c.VV[d.Replica]+1 {
		c.VV[d.Replica] = d.Seq
		c.compactReplica(d.Replica)
	} else {
		c.Cloud[d] = struct{}{}
	}
	return true
}

// init makes a zero Context usable.
func (c *Context) init() {
	if c.VV == nil {
		c.VV = VersionVector{}
	}
	if c.Cloud == nil {
		c.Cloud = map[Dot]struct{}{}
	}
}

// Next returns the next dot for replica id and records it.
func (c *Context) Next(id ReplicaID) Dot {
	d := Dot{Replica: id, Seq: c.VV[id] + 1}
	c.Add(d)
	return d
}

// compactReplica folds cloud dots that became contiguous into the vector.
func (c *Context) compactReplica(id ReplicaID) {
	for {
		next := Dot{Replica: id, Seq: c.VV[id] + 1}
		if _, ok := c.Cloud[next]; !ok {
			return
		}
		delete(c.Cloud, next)
		c.VV[id] = next.Seq
	}
}

// Merge adds every dot of other.
func (c *Context) Merge(other *Context) {
	if other == nil || other == c {
		return
	}
	c.init()
	for id, n := range other.VV {
		if n > c.VV[id] {
			c.VV[id] = n
			for d := range c.Cloud {
				if d.Replica == id && d.Seq <= n {
					delete(c.Cloud, d)
				}
			}
			c.compactReplica(id)
		}
	}
	for d := range other.Cloud {
		c.Add(d)
	}
}

// Clone returns an independent copy.
func (c *Context) Clone() *Context {
	out := &Context{VV: c.VV.Clone(), Cloud: make(map[Dot]struct{}, len(c.Cloud))}
	for d := range c.Cloud {
		out.Cloud[d] = struct{}{}
	}
	return out
}

// CloudDots lists the cloud dots in a deterministic order.
func (c *Context) CloudDots() []Dot {
	out := make([]Dot, 0, len(c.Cloud))
	for d := range c.Cloud {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Dot) int {
		if a.Replica != b.Replica {
			return strings.Compare(string(a.Replica), string(b.Replica))
		}
		return cmpUint(a.Seq, b.Seq)
	})
	return out
}

// Equal reports whether both contexts hold the same dots.
func (c *Context) Equal(o *Context) bool {
	if c == nil || o == nil {
		return c == o
	}
	if len(c.Cloud) != len(o.Cloud) {
		return false
	}
	for id, n := range c.VV {
		if n != 0 && o.VV[id] != n {
			return false
		}
	}
	for id, n := range o.VV {
		if n != 0 && c.VV[id] != n {
			return false
		}
	}
	for d := range c.Cloud {
		if _, ok := o.Cloud[d]; !ok {
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
