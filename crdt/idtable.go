package crdt

// IDTable interns replica IDs while messages are decoded. Every message
// names replicas (its sender, dots, version-vector entries, each
// document's writers); decoded into fresh strings, each costs an
// allocation, and every later map lookup with it compares bytes, since
// the strings already in a replica's maps sit elsewhere in memory. An
// interned ID is one string shared by every message that names it, so
// lookups compare pointers. A table holds at most its capacity (IDs past
// it are decoded as fresh strings), so hostile input cannot grow it
// without bound. It is not safe for concurrent use while it can grow:
// one decoding goroutine owns it (a transport would keep one per
// connection reader). A frozen table never changes again, so any number
// of goroutines may decode with it at once (the simulator interns every
// member it will ever have, freezes the table, then decodes on several
// cores).
type IDTable struct {
	ids    map[string]ReplicaID
	max    int
	frozen bool
}

// NewIDTable returns a table that interns up to max IDs.
func NewIDTable(max int) *IDTable {
	return &IDTable{ids: make(map[string]ReplicaID), max: max}
}

// Intern returns the table's copy of id, adding it while there is room.
func (t *IDTable) Intern(id ReplicaID) ReplicaID {
	if c, ok := t.ids[string(id)]; ok {
		return c
	}
	t.add(id)
	return id
}

// Freeze makes the table read-only: IDs not yet in it are decoded as
// fresh strings from now on, and it is safe for concurrent use.
func (t *IDTable) Freeze() { t.frozen = true }

// add stores id, known to be absent, while there is room and the table is
// not frozen.
func (t *IDTable) add(id ReplicaID) {
	if !t.frozen && len(t.ids) < t.max {
		t.ids[string(id)] = id
	}
}

// Len is how many IDs the table holds.
func (t *IDTable) Len() int { return len(t.ids) }

// lookup finds b's interned copy without allocating.
func (t *IDTable) lookup(b []byte) (ReplicaID, bool) {
	if t == nil {
		return "", false
	}
	id, ok := t.ids[string(b)]
	return id, ok
}
