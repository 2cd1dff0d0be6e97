package sim

import (
	"slices"

	"github.com/lattice-federation/lattice/crdt"
)

// Tombstone collection.
//
// A workload with deletes (Workload.Deletes) makes members collect
// tombstones as production's gossip.Node does: every GC interval each
// member runs the real crdt.Replica.CollectGarbage, which drops a deleted
// object's tombstone once it is causally stable among the member and its
// live peers. How long that takes at scale is the question: a member
// hears most peers' reports only through repairs, which visit the live
// members in turn, one every repair interval.
//
// A delete's collection time runs from the delete at its origin until
// every member of its target set (the members alive when it was made,
// less those that crash or leave meanwhile) has dropped the object's last
// state: seen in the changes of a repair, or by a collection run of the
// member's after which it holds nothing for the object (which also counts
// a member that never held it). A later write of the same object ends the
// measurement early (the object is live again somewhere): such deletes
// are counted as superseded, not timed.

// tombRec is one delete whose tombstone is still held somewhere.
type tombRec struct {
	at int64
	targets
}

// deleteTarget picks the object a workload write deletes: with
// probability Workload.Deletes one of the objects member m holds live, at
// random. It draws nothing when the workload never deletes, so such runs
// are unchanged.
func (w *World) deleteTarget(m *member) (crdt.Key, bool) {
	if w.sc.Workload.Deletes <= 0 || w.rng.Float64() >= w.sc.Workload.Deletes {
		return "", false
	}
	live := make([]crdt.Key, 0, len(w.keys))
	for _, k := range w.keys {
		if doc, _, ok := m.rep.r.Get(k); ok && doc.Exists() {
			live = append(live, k)
		}
	}
	if len(live) == 0 {
		return "", false
	}
	return live[w.rng.IntN(len(live))], true
}

// trackTombstone notes a landed workload write: a delete starts its
// collection measurement, and any write ends the measurement of an
// earlier delete of the same object.
func (w *World) trackTombstone(put pendingPut) {
	if _, ok := w.met.tombs[put.key]; ok {
		delete(w.met.tombs, put.key)
		w.met.tombsSuperseded++
	}
	if !put.delete {
		return
	}
	w.met.deletes++
	rec := &tombRec{at: put.at, targets: newTargets(len(w.members))}
	for j, m := range w.members {
		if m.alive {
			rec.add(int32(j))
		}
	}
	w.met.tombs[put.key] = rec
}

// collectGarbage is member m's periodic tombstone collection. After it,
// every pending delete m no longer holds any state for counts as
// collected at m: whether its own collection dropped the tombstone or m
// never held the object (it was created and deleted on the other side of
// a partition, say), which no change would show.
func (w *World) collectGarbage(m *member) {
	w.eng.Schedule(w.eng.now+w.gcInterval, evGC, m.idx, m.gen)
	if u := m.rep.r.CollectGarbage(); len(u.Changes) > 0 {
		w.localCommit(m, u)
	}
	for _, k := range w.pendingTombKeys() {
		if rec := w.met.tombs[k]; rec.need.has(m.idx) {
			if _, _, held := m.rep.r.Get(k); !held {
				w.tombCollected(k, rec, m.idx)
			}
		}
	}
}

// checkTombs notes the pending deletes whose object a repair made member
// m drop the last state of: a member that collected a tombstone first
// takes it from the others' (the repair removes what it has seen and no
// longer holds).
func (w *World) checkTombs(m *member, changes []crdt.Change) {
	if len(w.met.tombs) == 0 {
		return
	}
	for _, ch := range changes {
		if ch.Doc != nil {
			continue // the key still holds state here
		}
		if rec, ok := w.met.tombs[ch.Key]; ok {
			w.tombCollected(ch.Key, rec, m.idx)
		}
	}
}

// tombCollected notes that member j no longer holds the deleted key.
func (w *World) tombCollected(key crdt.Key, rec *tombRec, j int32) {
	if rec.done(j) {
		w.met.tombLatencies = append(w.met.tombLatencies, w.eng.now-rec.at)
		delete(w.met.tombs, key)
	}
}

// pendingTombKeys lists the pending deletes' keys in order (map order
// must not decide the order collections are recorded in).
func (w *World) pendingTombKeys() []crdt.Key {
	keys := make([]crdt.Key, 0, len(w.met.tombs))
	for k := range w.met.tombs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// dropTombTarget removes a crashed or departed member from every pending
// delete's target set.
func (w *World) dropTombTarget(j int32) {
	for _, k := range w.pendingTombKeys() {
		w.tombCollected(k, w.met.tombs[k], j)
	}
}

// tombstonesPerMember is the mean number of keys holding tombstones per
// alive member.
func (w *World) tombstonesPerMember() float64 {
	if w.aliveCount == 0 {
		return 0
	}
	n := 0
	for _, m := range w.members {
		if m.alive {
			n += m.rep.r.Tombstones()
		}
	}
	return float64(n) / float64(w.aliveCount)
}
