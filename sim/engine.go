package sim

import "math/bits"

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
	evGC
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
//
// The queue is a calendar of time slots, each 2^slotShift ns wide. Events due in
// the current slot (or earlier: the clock may be anywhere inside it) are
// in a small binary heap, near; events due in the next calendarSlots
// slots wait unsorted in their slot's bucket, and later ones in a second
// heap, far. Entering a slot moves its bucket into near. Pending events
// span seconds (probes, repairs) while the few due next are what a pop
// needs: one heap over all of them, ten thousand deep at 10,000 members,
// cost a cache miss per level on every pop and push.
type engine struct {
	now       int64
	seq       uint64
	processed uint64

	cur     int64     // the current slot (time >> slotShift)
	near    eventHeap // events of slots up to cur
	buckets [calendarSlots][]event
	filled  [calendarSlots / 64]uint64 // which buckets hold events
	inRing  int                        // events in buckets
	far     eventHeap                  // events beyond the calendar
}

// Calendar geometry: slots of 2^20 ns (about 1 ms, a message's processing
// time), 4,096 of them (about 4.3 s, beyond the probe and repair
// intervals).
const (
	slotShift     = 20
	calendarSlots = 4096
	keepBucket    = 256 // events a drained bucket keeps room for
)

// Now is the current virtual time in nanoseconds.
func (e *engine) Now() int64 { return e.now }

// Processed is how many events have been popped.
func (e *engine) Processed() uint64 { return e.processed }

// Len is the number of pending events.
func (e *engine) Len() int { return len(e.near) + e.inRing + len(e.far) }

// Schedule queues an event at virtual time at (clamped to now: the past
// cannot be scheduled).
func (e *engine) Schedule(at int64, kind eventKind, node int32, arg int64) {
	if at < e.now {
		at = e.now
	}
	e.seq++
	e.place(event{at: at, seq: e.seq, kind: kind, node: node, arg: arg})
}

// place puts ev where its slot says.
func (e *engine) place(ev event) {
	switch s := ev.at >> slotShift; {
	case s <= e.cur:
		e.near.push(ev)
	case s < e.cur+calendarSlots:
		i := s & (calendarSlots - 1)
		e.buckets[i] = append(e.buckets[i], ev)
		e.filled[i/64] |= 1 << (i % 64)
		e.inRing++
	default:
		e.far.push(ev)
	}
}

// Next pops the earliest event if it is due at or before until, advancing
// the clock to it.
func (e *engine) Next(until int64) (event, bool) {
	for len(e.near) == 0 {
		if !e.advance(until) {
			return event{}, false
		}
	}
	if e.near[0].at > until {
		return event{}, false
	}
	ev := e.near.pop()
	e.now = ev.at
	e.processed++
	return ev, true
}

// advance moves to the next slot holding events, if it starts by until,
// and moves its events into near. It reports whether it moved.
func (e *engine) advance(until int64) bool {
	next, ok := e.nextFilled()
	if len(e.far) > 0 {
		if fs := e.far[0].at >> slotShift; !ok || fs < next {
			next, ok = fs, true
		}
	}
	if !ok || next<<slotShift > until {
		return false
	}
	e.cur = next
	i := next & (calendarSlots - 1)
	if b := e.buckets[i]; len(b) > 0 {
		for _, ev := range b {
			e.near.push(ev)
		}
		e.inRing -= len(b)
		if cap(b) > keepBucket {
			// A burst's bucket: let it go. Every bucket sees a burst
			// sooner or later as the calendar turns, and kept they
			// would hold a burst's memory each.
			e.buckets[i] = nil
		} else {
			clear(b)
			e.buckets[i] = b[:0]
		}
		e.filled[i/64] &^= 1 << (i % 64)
	}
	// The calendar now reaches further: take in what far holds for it.
	for len(e.far) > 0 && e.far[0].at>>slotShift < e.cur+calendarSlots {
		e.place(e.far.pop())
	}
	return true
}

// nextFilled returns the first slot after cur whose bucket holds events.
func (e *engine) nextFilled() (int64, bool) {
	if e.inRing == 0 {
		return 0, false
	}
	start := (e.cur + 1) & (calendarSlots - 1)
	for k := int64(0); k <= calendarSlots; k += 64 {
		i := (start + k) & (calendarSlots - 1)
		w := e.filled[i/64] >> (i % 64) // bits from i to the word's end
		if w != 0 {
			return e.cur + 1 + k + int64(bits.TrailingZeros64(w)), true
		}
		// Skip to the next word boundary.
		k -= i % 64
	}
	return 0, false
}

// AdvanceTo moves the clock forward to t when no event is due before it.
func (e *engine) AdvanceTo(t int64) {
	if t > e.now {
		e.now = t
	}
}

// eventHeap is a binary min-heap of events by (time, insertion order).
type eventHeap []event

func (h *eventHeap) push(ev event) {
	*h = append(*h, ev)
	h.up(len(*h) - 1)
}

func (h *eventHeap) pop() event {
	s := *h
	ev := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	if last > 0 {
		h.down(0)
	}
	return ev
}

func (h eventHeap) up(i int) {
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

func (h eventHeap) down(i int) {
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
