package crdt

import (
	"maps"
	"slices"
	"strings"
)

// ORMapWrite is one put that is still live in an ORMap: the dot that
// identifies it, its HLC stamp and the value it wrote. The writer is
// Dot.Replica, so it is not stored twice.
type ORMapWrite[V any] struct {
	Dot   Dot
	Stamp Timestamp
	Value V
}

// ORMap is an add-wins observed-remove map with last-writer-wins values,
// in the delta-state style of Almeida et al., "Delta State Replicated Data
// Types" (a DotMap of DotFuns joined under a causal context).
//
// Every put creates a fresh dot and supersedes the dots of the key it
// observed; a remove supersedes the observed dots without creating one. A
// key is present while any of its dots survives, so a put concurrent with a
// remove wins. Each surviving dot keeps the value its put wrote; concurrent
// puts are resolved at read time by LWW on (Stamp, writer). Keeping the
// value per dot, rather than one register per key, is what makes the join a
// lattice: a removed write can never leak its value into a later one, and a
// put that observed an earlier value replaces it even if its stamp is lower.
//
// Values are stored and shipped in deltas by assignment; treat them as
// immutable once put. An ORMap is not safe for concurrent use.
type ORMap[V any] struct {
	// Entries holds, per present key, its live writes sorted by dot. A key
	// with no live write is deleted, never kept with an empty slice.
	Entries map[string][]ORMapWrite[V]
	// Context holds every dot this state has incorporated, including the
	// dots of writes that have since been superseded.
	Context *Context
}

// NewORMap returns an empty map.
func NewORMap[V any]() *ORMap[V] {
	return &ORMap[V]{Entries: map[string][]ORMapWrite[V]{}, Context: NewContext()}
}

// init allocates whatever a zero value or a decoder left nil.
func (m *ORMap[V]) init() {
	if m.Entries == nil {
		m.Entries = map[string][]ORMapWrite[V]{}
	}
	if m.Context == nil {
		m.Context = NewContext()
	}
	m.Context.init()
}

// Put sets key to v as replica id at HLC time ts. It returns the delta to
// ship: the new write plus a context holding its dot and the dots it
// superseded, so receivers drop exactly the writes this put observed.
func (m *ORMap[V]) Put(id ReplicaID, ts Timestamp, key string, v V) *ORMap[V] {
	m.init()
	d := m.Context.Next(id)
	delta := NewORMap[V]()
	delta.Context.Add(d)
	for _, old := range m.Entries[key] {
		delta.Context.Add(old.Dot)
	}
	w := ORMapWrite[V]{Dot: d, Stamp: ts, Value: v}
	m.Entries[key] = []ORMapWrite[V]{w}
	delta.Entries[key] = []ORMapWrite[V]{w}
	return delta
}

// Remove deletes key and returns the delta to ship: no entry, and a context
// holding the removed dots. Writes this replica has not observed are not in
// that context and survive the remove (add wins). Removing an absent key
// returns an empty delta.
func (m *ORMap[V]) Remove(key string) *ORMap[V] {
	m.init()
	delta := NewORMap[V]()
	ws, ok := m.Entries[key]
	if !ok {
		return delta
	}
	for _, w := range ws {
		delta.Context.Add(w.Dot)
	}
	delete(m.Entries, key)
	return delta
}

// Merge joins o (a delta or a full state) into m. A write survives if both
// sides hold it, or if one side holds it and the other side's context has
// not seen it; a write one side holds and the other has seen but no longer
// holds was superseded there and is dropped. Keys left without writes
// disappear, and the contexts are unioned. The join is commutative,
// associative and idempotent, so deltas may be delivered in any order, more
// than once, or be lost and later covered by a full-state merge.
//
// Cost is linear in the size of both states: any write of m may be covered
// by o's context, whatever o's entries hold.
func (m *ORMap[V]) Merge(o *ORMap[V]) {
	if o == nil || o == m {
		return
	}
	m.init()
	octx := o.Context
	if octx == nil {
		octx = NewContext()
	}
	// Keys only o holds are joined against m's context before it absorbs
	// octx, and inserted after the loop over m's keys so each key is
	// joined exactly once.
	var added map[string][]ORMapWrite[V]
	for key, theirs := range o.Entries {
		if _, ok := m.Entries[key]; ok {
			continue
		}
		if ws := ormJoin(nil, m.Context, theirs, octx); len(ws) > 0 {
			if added == nil {
				added = map[string][]ORMapWrite[V]{}
			}
			added[key] = ws
		}
	}
	for key, mine := range m.Entries {
		if ws := ormJoin(mine, m.Context, o.Entries[key], octx); len(ws) > 0 {
			m.Entries[key] = ws
		} else {
			delete(m.Entries, key)
		}
	}
	for key, ws := range added {
		m.Entries[key] = ws
	}
	m.Context.Merge(octx)
}

// ormJoin is the DotFun join of one key's writes: a holds writes under
// context ca, b under cb. The result is a new slice sorted by dot.
func ormJoin[V any](a []ORMapWrite[V], ca *Context, b []ORMapWrite[V], cb *Context) []ORMapWrite[V] {
	a, b = ormSorted(a), ormSorted(b)
	out := make([]ORMapWrite[V], 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = ormCompareDots(a[i].Dot, b[j].Dot)
		}
		switch {
		case c == 0:
			out = append(out, ormPick(a[i], b[j]))
			i++
			j++
		case c < 0:
			if !cb.Contains(a[i].Dot) {
				out = append(out, a[i])
			}
			i++
		default:
			if !ca.Contains(b[j].Dot) {
				out = append(out, b[j])
			}
			j++
		}
	}
	return out
}

// ormPick chooses between two copies of the same dot. They are identical
// unless a writer reused a dot; picking the LWW winner keeps the join
// commutative on stamps even then.
func ormPick[V any](a, b ORMapWrite[V]) ORMapWrite[V] {
	if a.Stamp < b.Stamp {
		return b
	}
	return a
}

// ormSorted returns ws if its dots are strictly increasing, else a sorted
// copy without duplicate dots. States built by this package are always in
// order; the check guards the merge walk against hand-built or decoded
// input.
func ormSorted[V any](ws []ORMapWrite[V]) []ORMapWrite[V] {
	ordered := true
	for i := 1; i < len(ws); i++ {
		if ormCompareDots(ws[i-1].Dot, ws[i].Dot) >= 0 {
			ordered = false
			break
		}
	}
	if ordered {
		return ws
	}
	out := slices.Clone(ws)
	slices.SortStableFunc(out, func(x, y ORMapWrite[V]) int { return ormCompareDots(x.Dot, y.Dot) })
	return slices.CompactFunc(out, func(x, y ORMapWrite[V]) bool { return x.Dot == y.Dot })
}

func ormCompareDots(a, b Dot) int {
	if c := strings.Compare(string(a.Replica), string(b.Replica)); c != 0 {
		return c
	}
	return cmpUint(a.Seq, b.Seq)
}

// ormWinner resolves concurrent writes of one key by LWW on (Stamp,
// writer). A full tie can only come from one writer reusing a stamp; the
// higher dot then wins, so the choice is still a function of the write set
// and not of slice order.
func ormWinner[V any](ws []ORMapWrite[V]) ORMapWrite[V] {
	best := ws[0]
	for _, w := range ws[1:] {
		if ormWriteLess(best, w) {
			best = w
		}
	}
	return best
}

func ormWriteLess[V any](a, b ORMapWrite[V]) bool {
	switch {
	case lwwLess(a.Stamp, a.Dot.Replica, b.Stamp, b.Dot.Replica):
		return true
	case lwwLess(b.Stamp, b.Dot.Replica, a.Stamp, a.Dot.Replica):
		return false
	}
	return a.Dot.Seq < b.Dot.Seq
}

// Get returns the value of key and whether it is present.
func (m *ORMap[V]) Get(key string) (V, bool) {
	ws := m.Entries[key]
	if len(ws) == 0 {
		var zero V
		return zero, false
	}
	return ormWinner(ws).Value, true
}

// Keys returns the present keys, sorted.
func (m *ORMap[V]) Keys() []string {
	return slices.Sorted(maps.Keys(m.Entries))
}

// Len returns the number of present keys.
func (m *ORMap[V]) Len() int { return len(m.Entries) }

// Clone returns a copy that shares no mutable state with m. Values are
// copied by assignment.
func (m *ORMap[V]) Clone() *ORMap[V] {
	out := &ORMap[V]{Entries: make(map[string][]ORMapWrite[V], len(m.Entries))}
	for key, ws := range m.Entries {
		out.Entries[key] = slices.Clone(ws)
	}
	if m.Context != nil {
		out.Context = m.Context.Clone()
	} else {
		out.Context = NewContext()
	}
	return out
}

// Equal reports whether m and o hold the same keys with the same writes
// (dots, stamps and values compared with eq) and equal contexts.
func (m *ORMap[V]) Equal(o *ORMap[V], eq func(a, b V) bool) bool {
	if m == nil || o == nil {
		return m == o
	}
	if len(m.Entries) != len(o.Entries) {
		return false
	}
	for key, mine := range m.Entries {
		theirs, ok := o.Entries[key]
		if !ok {
			return false
		}
		mine, theirs = ormSorted(mine), ormSorted(theirs)
		if len(mine) != len(theirs) {
			return false
		}
		for i := range mine {
			if mine[i].Dot != theirs[i].Dot || mine[i].Stamp != theirs[i].Stamp ||
				!eq(mine[i].Value, theirs[i].Value) {
				return false
			}
		}
	}
	return ormContextEqual(m.Context, o.Context)
}

// ormContextEqual treats a nil context as empty.
func ormContextEqual(a, b *Context) bool {
	if a == nil {
		a = NewContext()
	}
	if b == nil {
		b = NewContext()
	}
	return a.Equal(b)
}
