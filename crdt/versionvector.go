package crdt

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
)

// VersionVector maps a replica to the highest Seq such that every dot of
// that replica up to it has been seen. A replica absent from it is at 0.
//
// It is a slice of entries sorted by replica ID, not a map. A member holds
// one for itself and one per peer's report, and every message merges into
// one or reads one (a repair's digest carries a whole one): merging sorted
// slices is one pass over two contiguous arrays, copying one is a single
// allocation, and the wire's canonical order (sorted) is the stored order,
// where a map cost a hash and a probe per entry, often into cold memory,
// and a sort per encoding.
//
// The zero value is an empty vector. A VersionVector holds its entries by
// reference, like a map: assigning one shares them, so mutate a vector only
// through the one variable that owns it, and Clone to hand out a copy.
type VersionVector struct {
	e []vvEntry
}

type vvEntry struct {
	id ReplicaID
	n  uint64
}

// MakeVersionVector returns the vector holding m's entries.
func MakeVersionVector(m map[ReplicaID]uint64) VersionVector {
	var v VersionVector
	v.e = make([]vvEntry, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		v.e = append(v.e, vvEntry{id, m[id]})
	}
	return v
}

// Map returns v's entries as a map (for tests and diagnostics).
func (v VersionVector) Map() map[ReplicaID]uint64 {
	out := make(map[ReplicaID]uint64, len(v.e))
	for _, x := range v.e {
		out[x.id] = x.n
	}
	return out
}

// Len is the number of entries (including any explicitly set to 0).
func (v VersionVector) Len() int { return len(v.e) }

// find returns where id's entry is, or would be inserted.
func (v VersionVector) find(id ReplicaID) (int, bool) {
	lo, hi := 0, len(v.e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v.e[m].id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(v.e) && v.e[lo].id == id
}

// Get returns id's entry (0 when absent).
func (v VersionVector) Get(id ReplicaID) uint64 {
	if i, ok := v.find(id); ok {
		return v.e[i].n
	}
	return 0
}

// Set sets id's entry to n (adding it, even at 0, when absent).
func (v *VersionVector) Set(id ReplicaID, n uint64) {
	i, ok := v.find(id)
	if ok {
		v.e[i].n = n
		return
	}
	v.e = slices.Insert(v.e, i, vvEntry{id, n})
}

// All yields the entries in replica order.
func (v VersionVector) All() iter.Seq2[ReplicaID, uint64] {
	return func(yield func(ReplicaID, uint64) bool) {
		for _, x := range v.e {
			if !yield(x.id, x.n) {
				return
			}
		}
	}
}

// Clone returns an independent copy.
func (v VersionVector) Clone() VersionVector {
	return VersionVector{e: slices.Clone(v.e)}
}

// Merge raises every entry of v to at least other's, in one pass over both
// (other's entries at 0 add nothing).
func (v *VersionVector) Merge(other VersionVector) {
	a, b := v.e, other.e
	// Most merges add nothing new: raise entries in place while b's IDs
	// are all in a, and build a new slice only from the first one that
	// is not.
	i, j := 0, 0
	for j < len(b) {
		i = seek(a, i, b[j].id)
		if i == len(a) || a[i].id != b[j].id {
			if b[j].n == 0 {
				j++ // nothing to raise, and absent is 0
				continue
			}
			break
		}
		if b[j].n > a[i].n {
			a[i].n = b[j].n
		}
		i, j = i+1, j+1
	}
	if j == len(b) {
		return
	}
	out := make([]vvEntry, 0, len(a)+len(b)-j)
	out = append(out, a[:i]...)
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].id < b[j].id):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].id < a[i].id:
			if b[j].n > 0 { // absent is 0: a zero entry adds nothing
				out = append(out, b[j])
			}
			j++
		default:
			x := a[i]
			x.n = max(x.n, b[j].n)
			out = append(out, x)
			i, j = i+1, j+1
		}
	}
	v.e = out
}

// meet lowers every entry of v to at most other's, dropping those other
// lacks or holds at 0 (absent is 0), in one pass over both.
func (v *VersionVector) meet(other VersionVector) {
	b := other.e
	out := v.e[:0] // written behind the read position: in place is safe
	j := 0
	for _, x := range v.e {
		// Members' vectors mostly name the same writers: try the next
		// entry for equality (no ordering compare) before seeking.
		if j >= len(b) || b[j].id != x.id {
			if j = seek(b, j, x.id); j == len(b) {
				break
			}
			if b[j].id != x.id {
				continue
			}
		}
		if n := min(x.n, b[j].n); n > 0 {
			out = append(out, vvEntry{x.id, n})
		}
		j++
	}
	clear(v.e[len(out):]) // let go of the dropped IDs
	v.e = out
}

// seek returns the first index from i on whose ID is not below id. It
// steps a few entries, then bisects: a delta's acknowledgement holds two
// or three entries and is merged into a report with one per writer.
func seek(a []vvEntry, i int, id ReplicaID) int {
	for stop := min(len(a), i+4); i < stop; i++ {
		if a[i].id >= id {
			return i
		}
	}
	lo, hi := i, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m].id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// above returns the entries of v above other's, in one pass over both.
func (v VersionVector) above(other VersionVector) VersionVector {
	var out VersionVector
	b := other.e
	for _, x := range v.e {
		for len(b) > 0 && b[0].id < x.id {
			b = b[1:]
		}
		if len(b) > 0 && b[0].id == x.id {
			if x.n > b[0].n {
				out.e = append(out.e, x)
			}
			continue
		}
		if x.n > 0 {
			out.e = append(out.e, x)
		}
	}
	return out
}

// Covers reports whether dot d is within v.
func (v VersionVector) Covers(d Dot) bool { return d.Seq <= v.Get(d.Replica) }

// Replicas returns the IDs in v, sorted.
func (v VersionVector) Replicas() []ReplicaID {
	out := make([]ReplicaID, len(v.e))
	for i, x := range v.e {
		out[i] = x.id
	}
	return out
}

// dropZeros removes entries at 0.
func (v *VersionVector) dropZeros() {
	v.e = slices.DeleteFunc(v.e, func(x vvEntry) bool { return x.n == 0 })
}

// equalIgnoringZeros reports whether v and o hold the same non-zero entries.
func (v VersionVector) equalIgnoringZeros(o VersionVector) bool {
	a, b := v.e, o.e
	for {
		for len(a) > 0 && a[0].n == 0 {
			a = a[1:]
		}
		for len(b) > 0 && b[0].n == 0 {
			b = b[1:]
		}
		if len(a) == 0 || len(b) == 0 {
			return len(a) == len(b)
		}
		if a[0] != b[0] {
			return false
		}
		a, b = a[1:], b[1:]
	}
}

func (v VersionVector) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range v.e {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", x.id, x.n)
	}
	b.WriteByte('}')
	return b.String()
}
