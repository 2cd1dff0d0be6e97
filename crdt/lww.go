package crdt

// LWWRegister is a last-writer-wins register. Writes are totally ordered by
// (Stamp, Writer): the HLC reading decides and the writer ID breaks ties, so
// every replica picks the same winner whatever order writes arrive in.
//
// A writer must never issue two different values under the same stamp (a
// Clock guarantees strictly increasing readings); otherwise the tie between
// them could not be broken and Merge would no longer commute. The zero
// Stamp is reserved for the unset register.
type LWWRegister[T any] struct {
	Value  T
	Stamp  Timestamp
	Writer ReplicaID
}

// lwwLess reports whether the write (ts1, w1) orders before (ts2, w2).
func lwwLess(ts1 Timestamp, w1 ReplicaID, ts2 Timestamp, w2 ReplicaID) bool {
	if ts1 != ts2 {
		return ts1 < ts2
	}
	return w1 < w2
}

// Assign writes v if (ts, w) orders after the current write. Stale and
// replayed writes are ignored, which makes redelivery harmless. A zero ts is
// ignored too: it would make a written register indistinguishable from an
// unset one.
func (r *LWWRegister[T]) Assign(v T, ts Timestamp, w ReplicaID) {
	if ts == 0 || !lwwLess(r.Stamp, r.Writer, ts, w) {
		return
	}
	r.Value, r.Stamp, r.Writer = v, ts, w
}

// Merge keeps whichever of r and o was written last.
func (r *LWWRegister[T]) Merge(o LWWRegister[T]) {
	r.Assign(o.Value, o.Stamp, o.Writer)
}

// IsSet reports whether the register has ever been written.
func (r *LWWRegister[T]) IsSet() bool { return r.Stamp != 0 }
