package sim

import (
	"math"
	"slices"
)

// action applies one timeline event.
func (w *World) action(e Event) {
	switch {
	case e.Partition != nil:
		w.partition(e.Partition)
	case e.Heal:
		for j := range w.nw.side {
			w.nw.side[j] = 0
		}
		w.met.healAt = w.eng.now
	case e.Crash != nil:
		for _, i := range w.selectMembers(e.Crash, true) {
			w.crash(i, false)
		}
	case e.Restart != nil:
		for _, i := range w.selectMembers(e.Restart, false) {
			w.restart(i)
		}
	case e.Churn != nil:
		steps := int(math.Ceil(e.Churn.Fraction * float64(w.sc.Members)))
		idx := slices.IndexFunc(w.sc.Events, func(x Event) bool { return x.Churn == e.Churn })
		w.eng.Schedule(w.eng.now, evChurn, int32(steps), int64(idx))
	case e.WriteRate != nil:
		w.writeRate = *e.WriteRate
		w.writeGen++
		w.scheduleNextWrite(max(w.eng.now, int64(w.sc.Workload.Start)))
	}
}

// partition assigns sides: by fraction of member indices, or by regions.
func (w *World) partition(p *Partition) {
	n := len(w.members)
	for j, m := range w.members {
		side := int32(0)
		if p.Fraction > 0 {
			if float64(j) < p.Fraction*float64(n) {
				side = 1
			}
		} else {
			name := w.sc.Topology.Regions[m.region].Name
			for si, group := range p.Regions {
				if slices.Contains(group, name) {
					side = int32(si + 1)
				}
			}
		}
		w.nw.side[j] = side
	}
}

// selectMembers resolves a selector. Fractions draw a random subset of the
// candidates (alive members to crash, crashed ones to restart).
func (w *World) selectMembers(s *Selector, wantAlive bool) []int32 {
	var out []int32
	switch {
	case len(s.Members) > 0:
		for _, i := range s.Members {
			out = append(out, int32(i))
		}
	case s.Region != "":
		r := int32(w.regions[s.Region])
		for j, m := range w.members {
			if m.region == r {
				out = append(out, int32(j))
			}
		}
	case s.Crashed:
		for j, m := range w.members {
			if !m.alive && !m.left {
				out = append(out, int32(j))
			}
		}
	case s.Fraction > 0:
		var cands []int32
		for j, m := range w.members {
			if m.alive == wantAlive && !m.left {
				cands = append(cands, int32(j))
			}
		}
		w.rng.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
		k := int(math.Round(s.Fraction * float64(len(w.members))))
		out = cands[:min(k, len(cands))]
		slices.Sort(out)
	}
	return out
}

// crash stops member i: its process and its cluster are gone. Its replica
// is kept (the store is durable) for a restart. leave makes it a graceful
// departure (memberlist's leave broadcast) instead of a failure.
func (w *World) crash(i int32, leave bool) {
	m := w.members[i]
	if !m.alive {
		return
	}
	m.alive = false
	m.gen++
	m.tickAt = -1
	w.dropLoop(m)
	w.aliveCount--
	if leave {
		m.left = true
		w.eng.Schedule(w.eng.now+w.disseminationDelay(), evViewUpdate, i, packView(opDead, w.nw.side[i]))
	} else {
		w.met.crashedAt[i] = w.eng.now
	}
	w.dropTarget(i)
	w.dropTombTarget(i)
	if m.ctl != nil {
		m.ctl.crash()
	}
}

// restart brings a crashed member back: a new incarnation with its durable
// replica, a fresh session core, a join to its side.
func (w *World) restart(i int32) {
	m := w.members[i]
	if m.alive || m.left {
		return
	}
	m.alive = true
	m.gen++
	m.inc++
	w.aliveCount++
	delete(w.met.crashedAt, i)
	// The new incarnation's alive message supersedes any suspicion of the
	// old one (memberlist orders by incarnation). Only deletions: map order
	// does not matter.
	for k := range w.sw.susp {
		if k.target == i {
			delete(w.sw.susp, k)
		}
	}
	if err := w.newSync(m); err != nil {
		w.met.syncErrors++
		return
	}
	m.peers = m.peers[:0]
	w.joinView(i)
	w.markPeersDirty(i)
	w.flushPeers()
	w.startTimers(m)
}

// churnStep replaces one member: a random alive member leaves, a new one
// joins (in a region drawn by weight), then the next step is queued.
func (w *World) churnStep(eventIdx int, remaining int) {
	if remaining <= 0 {
		return
	}
	c := w.sc.Events[eventIdx].Churn
	steps := int(math.Ceil(c.Fraction * float64(w.sc.Members)))
	w.eng.Schedule(w.eng.now+int64(c.Over)/int64(steps), evChurn, int32(remaining-1), int64(eventIdx))
	if o := w.randomAlive(); o >= 0 {
		w.crash(o, true)
	}
	m, err := w.addMember(w.randomRegion())
	if err != nil {
		w.met.syncErrors++
		return
	}
	w.joinView(m.idx)
	w.markPeersDirty(m.idx)
	w.flushPeers()
	if w.fed != nil {
		w.fed.attach(w, m)
	}
	w.startTimers(m)
}

func (w *World) randomRegion() int32 {
	var total float64
	for _, r := range w.sc.Topology.Regions {
		total += r.Weight
	}
	x := w.rng.Float64() * total
	for i, r := range w.sc.Topology.Regions {
		if x < r.Weight {
			return int32(i)
		}
		x -= r.Weight
	}
	return int32(len(w.sc.Topology.Regions) - 1)
}
