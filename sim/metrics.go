package sim

import (
	"slices"

	"github.com/lattice-federation/lattice/crdt"
)

// Convergence of a write: the virtual time from the write at its origin
// until the last member of its target set has applied it. The target set
// is every member alive and on the origin's partition side when the write
// is made; a target that crashes before applying it leaves the set (the
// write has then reached every target still alive). "Applied" means the
// member's replica took the write's dot into its causal context: by a delta
// (the dot arrives in the delta's dot set) or by a digest repair (checked
// against the replica's context after the repair). Writes still unconverged
// at the end are counted, not guessed.
type writeRec struct {
	dot crdt.Dot
	at  int64
	targets
}

// targets is the members an event must still reach (a write's appliers,
// a delete's collectors), counted so that done can tell when none are
// left.
type targets struct {
	need      bitset
	remaining int
}

func newTargets(n int) targets { return targets{need: newBitset(n)} }

// add makes member j a target.
func (t *targets) add(j int32) {
	t.need.set(j)
	t.remaining++
}

// done removes member j and reports whether that left no target (false
// when j was not one).
func (t *targets) done(j int32) bool {
	if !t.need.has(j) {
		return false
	}
	t.need.clear(j)
	t.remaining--
	return t.remaining == 0
}

// metrics accumulates what the summary and the time series report. It
// holds only virtual-time quantities: nothing here depends on the host.
type metrics struct {
	pending   map[crdt.Dot]*writeRec
	latencies []int64 // converged writes, ns
	writes    int

	bytesTotal  uint64 // anti-entropy frames
	msgsTotal   uint64
	bytesWindow uint64
	// memberTotal and memberWindow are membership traffic (membership.go).
	memberTotal  uint64
	memberWindow uint64
	syncErrors   uint64
	// handling is the members' loop time on handled messages (from the
	// start of a message's computation to its delivery), handled their
	// count: the simulated side of a real member's message-handling time.
	handling, handled int64
	crashedAt         map[int32]int64
	detections        []int64
	falseDeaths       int
	belowDesired      int64 // ns with ready < desired
	lastReadyAt       int64
	lastReady         int32
	desired           int32
	healAt            int64 // last heal, -1 none
	healConv          []int64
	memberSecs        float64 // integral of alive members over time, s

	// Tombstones (tombstones.go): deletes made, their records until every
	// target collected them, collection times, deletes superseded.
	deletes         int
	tombs           map[crdt.Key]*tombRec
	tombLatencies   []int64
	tombsSuperseded int
}

func newMetrics() *metrics {
	return &metrics{pending: map[crdt.Dot]*writeRec{}, crashedAt: map[int32]int64{}, healAt: -1, tombs: map[crdt.Key]*tombRec{}}
}

func (m *metrics) sent(size int) {
	m.bytesTotal += uint64(size)
	m.bytesWindow += uint64(size)
	m.msgsTotal++
}

// track starts tracking a write made by origin.
func (w *World) track(origin int32, dot crdt.Dot, at int64) {
	rec := &writeRec{dot: dot, at: at, targets: newTargets(len(w.members))}
	side := w.nw.side[origin]
	for j, m := range w.members {
		if int32(j) != origin && m.alive && w.nw.side[j] == side {
			rec.add(int32(j))
		}
	}
	w.met.writes++
	if rec.remaining == 0 {
		w.met.latencies = append(w.met.latencies, w.eng.now-at)
		return
	}
	w.met.pending[dot] = rec
}

func (w *World) applied(rec *writeRec, j int32) {
	if rec.done(j) {
		w.met.latencies = append(w.met.latencies, w.eng.now-rec.at)
		delete(w.met.pending, rec.dot)
		w.writeSettled()
	}
}

// noteApplied records the tracked writes member m applied with msg.
func (w *World) noteApplied(m *member, msg crdt.Message) {
	switch msg.(type) {
	case *crdt.DeltaMsg, *crdt.AckMsg:
	default:
		w.checkTombs(m, m.rep.last.Changes) // a repair drops what a peer collected first
	}
	if len(w.met.pending) == 0 {
		return
	}
	u := &m.rep.last
	switch msg.(type) {
	case *crdt.DeltaMsg:
		if u.Entry != nil {
			for _, d := range u.Entry.Dots {
				if rec, ok := w.met.pending[d]; ok {
					w.applied(rec, m.idx)
				}
			}
		}
	case *crdt.AckMsg:
	default:
		// Digest repair messages may adopt the peer's causal context
		// without any document changing (the write was superseded), so
		// check the context itself. Repairs are rare; the clone is cheap
		// enough.
		ctx := m.rep.r.Context()
		for _, rec := range w.pendingSorted() {
			if rec.need.has(m.idx) && ctx.Contains(rec.dot) {
				w.applied(rec, m.idx)
			}
		}
	}
}

// pendingSorted lists pending writes in write order (map order must not
// decide the order convergences are recorded in).
func (w *World) pendingSorted() []*writeRec {
	out := make([]*writeRec, 0, len(w.met.pending))
	for _, r := range w.met.pending {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *writeRec) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		if a.dot.Replica != b.dot.Replica {
			if a.dot.Replica < b.dot.Replica {
				return -1
			}
			return 1
		}
		return int(a.dot.Seq) - int(b.dot.Seq)
	})
	return out
}

// dropTarget removes a crashed or departed member from every pending
// write's target set.
func (w *World) dropTarget(j int32) {
	for _, rec := range w.pendingSorted() {
		w.applied(rec, j)
	}
}

func (m *metrics) deathDeclared(t int32, now int64) {
	if at, ok := m.crashedAt[t]; ok {
		m.detections = append(m.detections, now-at)
		delete(m.crashedAt, t)
		return
	}
	m.falseDeaths++
}

// quantile returns the q-quantile (nearest rank) of sorted xs, in seconds.
func quantile(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[nearestRank(len(sorted), q)]) / 1e9
}

// Quantile returns the q-quantile (nearest rank, as summary.json's
// percentiles) of sorted values; 0 for none.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[nearestRank(len(sorted), q)]
}

// nearestRank is the index of the q-quantile of n sorted values.
func nearestRank(n int, q float64) int {
	i := int(q*float64(n)+0.999999999) - 1
	return max(0, min(n-1, i))
}
