package sim

// eventKind says what an event does; the world dispatches on it with a
// switch, so scheduling an event allocates nothing (no closures).
type eventKind uint8

const (
	evSyncTick eventKind = iota + 1
	evDeliver
	evArrive
	evProbe
	evSuspicionCheck
	evViewUpdate
	evWrite
	evAction
	evController
	evSample
	evRejoin
	evChurn
	evFedCreate
	evFedSample
	evCoreDone
	evRelease
	evPutDurable
)

// event is one scheduled occurrence. It is a small value type kept in a
// slice-backed binary heap: no pointers, no interface, nothing for the
// garbage collector to trace.
type event struct {
	at   int64  // virtual nanoseconds since the epoch
	seq  uint64 // insertion order: breaks ties deterministically (FIFO)
	kind eventKind
	node int32 // member index the event concerns (-1: none)
	arg  int64 // kind-specific: payload slot, action index, generation
}

func (a *event) less(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// engine is the discrete-event core: a virtual clock and a priority queue of
// events ordered by (time, insertion order). It never reads the wall clock.
type engine struct {
	now       int64
	seq       uint64
	heap      []event
	processed uint64
}

// Now is the current virtual time in nanoseconds.
func (e *engine) Now() int64 { return e.now }

// Processed is how many events have been popped.
func (e *engine) Processed() uint64 { return e.processed }

// Len is the number of pending events.
func (e *engine) Len() int { return len(e.heap) }

// Schedule queues an event at virtual time at (clamped to now: the past
// cannot be scheduled).
func (e *engine) Schedule(at int64, kind eventKind, node int32, arg int64) {
	if at < e.now {
		at = e.now
	}
	e.seq++
	e.heap = append(e.heap, event{at: at, seq: e.seq, kind: kind, node: node, arg: arg})
	e.up(len(e.heap) - 1)
}

// Next pops the earliest event if it is due at or before until, advancing
// the clock to it.
func (e *engine) Next(until int64) (event, bool) {
	if len(e.heap) == 0 || e.heap[0].at > until {
		return event{}, false
	}
	ev := e.heap[0]
	last := len(e.heap) - 1
	e.heap[0] = e.heap[last]
	e.heap = e.heap[:last]
	if last > 0 {
		e.down(0)
	}
	e.now = ev.at
	e.processed++
	return ev, true
}

// AdvanceTo moves the clock forward to t when no event is due before it.
func (e *engine) AdvanceTo(t int64) {
	if t > e.now {
		e.now = t
	}
}

func (e *engine) up(i int) {
	h := e.heap
	x := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !x.less(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
}

func (e *engine) down(i int) {
	h := e.heap
	n := len(h)
	x := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].less(&h[c]) {
			c = r
		}
		if !h[c].less(&x) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}
