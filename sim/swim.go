package sim

import (
	"math"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/lattice-federation/lattice/gossip"
)

// swimConfig is the failure detector's timing, taken from memberlist's own
// profiles (DefaultLANConfig / DefaultWANConfig) so the model cannot drift
// from what production runs, with Lattice's LAN override of
// SuspicionMaxTimeoutMult (gossip/node.go caps it at 2) and its rejoin
// interval (gossip.Config.RejoinInterval).
type swimConfig struct {
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	IndirectChecks          int
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	GossipNodes             int
	RetransmitMult          int
	PushPullInterval        time.Duration
	RejoinInterval          time.Duration
}

func swimConfigFor(profile string) swimConfig {
	mc := memberlist.DefaultLANConfig()
	gc := gossip.DefaultConfig()
	if profile == "wan" {
		mc = memberlist.DefaultWANConfig()
		gc = gossip.WANConfig()
	} else {
		mc.SuspicionMaxTimeoutMult = 2 // as gossip/node.go does for LAN
	}
	return swimConfig{
		ProbeInterval:           mc.ProbeInterval,
		ProbeTimeout:            mc.ProbeTimeout,
		IndirectChecks:          mc.IndirectChecks,
		SuspicionMult:           mc.SuspicionMult,
		SuspicionMaxTimeoutMult: mc.SuspicionMaxTimeoutMult,
		GossipInterval:          mc.GossipInterval,
		GossipNodes:             mc.GossipNodes,
		RetransmitMult:          mc.RetransmitMult,
		PushPullInterval:        mc.PushPullInterval,
		RejoinInterval:          gc.RejoinInterval,
	}
}

// The SWIM model.
//
// What runs per member, as in memberlist: every ProbeInterval (first probe
// at a random phase) a member probes one random member of its live view. A
// direct probe succeeds when the target is alive, on the same partition
// side, neither ping nor ack is lost, and the drawn round trip is within
// ProbeTimeout. Otherwise IndirectChecks random members of the prober's
// view are asked to probe it; it succeeds if any relay path (four one-way
// legs, each subject to loss and partitions) works. A failed probe starts
// a suspicion of the target, or confirms an existing one.
//
// Suspicion timeout, exactly memberlist's formula (suspicion.go,
// util.go): min = SuspicionMult * max(1, log10(max(1, n))) * ProbeInterval
// for a view of n members; max = SuspicionMaxTimeoutMult * min; with c
// independent confirmations out of k = SuspicionMult - 2 expected (0 when
// n-2 < k) the timeout is max - (max-min) * log(c+1)/log(k+1), never below
// min (Lifeguard). When it expires the target is declared dead.
//
// Simplifications (documented, deliberate):
//   - Dissemination of suspect/alive/dead/leave messages is not simulated
//     message by message. It is an epidemic with fan-out GossipNodes per
//     GossipInterval, so it reaches a side of n members after
//     hops = ceil(log(n)/log(GossipNodes+1)) + 1 rounds; every member of
//     the side learns at once after hops*GossipInterval plus one median
//     link delay (disseminationDelay).
//   - One suspicion per (target, side) with one timer, started by the
//     first prober to fail; later failing probers count as confirmations.
//     memberlist runs a timer per member, started when each learns.
//   - A wrongly suspected member that is alive and reachable refutes after
//     two dissemination delays (it learns, then its alive message spreads).
//   - Rejoin after a heal or a false death: every RejoinInterval
//     (gossip.Config.RejoinInterval, the node's rejoin loop) each side's
//     alive members are merged into the views of that side's members after
//     one dissemination delay, standing in for memberlist's push-pull join.
//   - Membership traffic is counted by a model of memberlist's messages
//     (membership.go), beside the anti-entropy messages' real sizes.
type swim struct {
	cfg   swimConfig
	views []bitset // views[i]: who member i believes alive (self included)
	susp  map[suspKey]*suspicion
}

type suspKey struct{ target, side int32 }

type suspicion struct {
	start    int64
	n        int     // view size of the originator
	confirm  []int32 // members whose probes failed, originator first
	deadline int64
	refuteAt int64 // 0: no refutation (target dead or unreachable)
}

// View-update operations, packed into an event's arg with the side.
const (
	opDead int64 = iota + 1
	opAlive
	opMerge
)

func packView(op int64, side int32) int64 { return op<<32 | int64(uint32(side)) }
func unpackView(arg int64) (int64, int32) { return arg >> 32, int32(uint32(arg)) }

// suspicionTimeout is memberlist's suspicionTimeout.
func (c swimConfig) suspicionMin(n int) int64 {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return int64(float64(c.SuspicionMult) * scale * float64(c.ProbeInterval))
}

// remaining is memberlist's suspicion.remainingSuspicionTime, as an
// absolute deadline.
func (c swimConfig) deadline(s *suspicion) int64 {
	minT := c.suspicionMin(s.n)
	maxT := int64(c.SuspicionMaxTimeoutMult) * minT
	k := c.SuspicionMult - 2
	if s.n-2 < k {
		k = 0
	}
	conf := len(s.confirm) - 1
	t := maxT
	if k > 0 {
		frac := math.Log(float64(conf)+1) / math.Log(float64(k)+1)
		t = maxT - int64(frac*float64(maxT-minT))
	}
	return s.start + max(t, minT)
}

// disseminationDelay is how long a membership message takes to reach a
// side of the current size (see the model notes above).
func (w *World) disseminationDelay() int64 {
	n := max(2, w.aliveCount)
	hops := math.Ceil(math.Log(float64(n))/math.Log(float64(w.sw.cfg.GossipNodes+1))) + 1
	return int64(hops*float64(w.sw.cfg.GossipInterval)) + int64(w.nw.links[0].median)
}

// probe runs member i's probe round.
func (w *World) probe(i int32) {
	m := w.members[i]
	if !m.alive {
		return
	}
	w.eng.Schedule(w.eng.now+int64(w.sw.cfg.ProbeInterval), evProbe, i, m.gen)
	t := w.randomInView(i, -1)
	if t < 0 {
		return
	}
	if w.probeOK(i, t) {
		return
	}
	// Indirect probes through IndirectChecks random members of i's view:
	// each leg is sent only if the one before it arrived.
	for range w.sw.cfg.IndirectChecks {
		k := w.randomInView(i, t)
		if k < 0 {
			break
		}
		w.met.memberSent(mlIndirectPingBytes)
		if !w.legOK(i, k) {
			continue
		}
		w.met.memberSent(mlPingBytes)
		if !w.legOK(k, t) {
			w.met.memberSent(mlNackBytes) // the relay's nack, after its timeout
			continue
		}
		w.met.memberSent(mlAckBytes)
		if !w.legOK(t, k) {
			w.met.memberSent(mlNackBytes)
			continue
		}
		w.met.memberSent(mlAckBytes)
		if w.legOK(k, i) {
			return
		}
	}
	w.suspect(i, t)
}

// probeOK: a direct ping and ack within ProbeTimeout. The ping is sent
// whatever becomes of it; the ack only if the ping arrived.
func (w *World) probeOK(i, t int32) bool {
	w.met.memberSent(mlPingBytes)
	if !w.reachable(i, t) {
		return false
	}
	a, b := w.members[i], w.members[t]
	l1, l2 := w.nw.link(a.region, b.region), w.nw.link(b.region, a.region)
	if l1.lost(w.rng) {
		return false
	}
	w.met.memberSent(mlAckBytes)
	if l2.lost(w.rng) {
		return false
	}
	return l1.delay(w.rng, 64)+l2.delay(w.rng, 64) <= int64(w.sw.cfg.ProbeTimeout)
}

// legOK: one one-way message from a to b arrives.
func (w *World) legOK(a, b int32) bool {
	return w.reachable(a, b) && !w.nw.link(w.members[a].region, w.members[b].region).lost(w.rng)
}

func (w *World) reachable(a, b int32) bool {
	return w.members[a].alive && w.members[b].alive && w.nw.sameSide(a, b)
}

// randomInView draws a random member of i's view other than i and not.
func (w *World) randomInView(i, not int32) int32 {
	v := w.sw.views[i]
	n := int32(len(w.members))
	for range 16 {
		c := w.rng.Int32N(n)
		if c != i && c != not && v.has(c) {
			return c
		}
	}
	var cands []int32
	v.each(func(c int32) {
		if c != i && c != not {
			cands = append(cands, c)
		}
	})
	if len(cands) == 0 {
		return -1
	}
	return cands[w.rng.IntN(len(cands))]
}

// suspect records that i's probe of t failed.
func (w *World) suspect(i, t int32) {
	key := suspKey{target: t, side: w.nw.side[i]}
	s := w.sw.susp[key]
	now := w.eng.now
	if s == nil {
		s = &suspicion{start: now, n: w.sw.views[i].count(), confirm: []int32{i}}
		side := w.sideAlive(key.side)
		w.broadcast(mlSuspectBytes, side)
		if w.reachable(i, t) {
			// The target hears it is suspected and refutes.
			s.refuteAt = now + 2*w.disseminationDelay()
			w.broadcast(mlAliveBytes, side)
		}
		w.sw.susp[key] = s
	} else {
		for _, c := range s.confirm {
			if c == i {
				return
			}
		}
		s.confirm = append(s.confirm, i)
	}
	s.deadline = w.sw.cfg.deadline(s)
	at := s.deadline
	if s.refuteAt != 0 && s.refuteAt < at {
		at = s.refuteAt
	}
	w.eng.Schedule(at, evSuspicionCheck, t, int64(key.side))
}

// suspicionCheck fires a suspicion's timer: refuted, still running, or dead.
func (w *World) suspicionCheck(t int32, side int32) {
	key := suspKey{target: t, side: side}
	s := w.sw.susp[key]
	if s == nil {
		return
	}
	now := w.eng.now
	if s.refuteAt != 0 && now >= s.refuteAt && w.members[t].alive && w.nw.side[t] == side {
		delete(w.sw.susp, key)
		return
	}
	if now < s.deadline {
		return // a later check (after more confirmations) is queued
	}
	delete(w.sw.susp, key)
	w.broadcast(mlDeadBytes, w.sideAlive(side))
	// Detection is counted when the side learns of the death (viewUpdate).
	w.eng.Schedule(now+w.disseminationDelay(), evViewUpdate, t, packView(opDead, side))
}

// viewUpdate applies a disseminated membership message to every alive
// member of the side.
func (w *World) viewUpdate(t int32, arg int64) {
	op, side := unpackView(arg)
	switch op {
	case opDead:
		changed := false
		for j, m := range w.members {
			j := int32(j)
			if m.alive && w.nw.side[j] == side && j != t && w.sw.views[j].has(t) {
				w.sw.views[j].clear(t)
				w.viewChanged(j, t, false)
				changed = true
			}
		}
		// A death that changed some view, and not a graceful leave.
		if changed && !w.members[t].left {
			w.met.deathDeclared(t, w.eng.now)
		}
	case opAlive:
		if !w.members[t].alive || w.nw.side[t] != side {
			return
		}
		for j, m := range w.members {
			j := int32(j)
			if m.alive && w.nw.side[j] == side && !w.sw.views[j].has(t) {
				w.sw.views[j].set(t)
				w.viewChanged(j, t, true)
			}
		}
	case opMerge:
		alive := newBitset(len(w.members))
		for j, m := range w.members {
			if m.alive && w.nw.side[j] == side {
				alive.set(int32(j))
			}
		}
		n := alive.count()
		for j, m := range w.members {
			j := int32(j)
			if !m.alive || w.nw.side[j] != side {
				continue
			}
			v := w.sw.views[j]
			joined := false
			for wi := range alive {
				add := alive[wi] &^ v[wi]
				if add == 0 {
					continue
				}
				if !joined {
					// The rejoin loop's memberlist.Join: a push-pull, both ways.
					joined = true
					w.met.memberSent(2 * pushPullBytes(n))
				}
				v[wi] |= add
				bitset{add}.each(func(b int32) { w.viewChanged(j, int32(wi*64)+b, true) })
			}
		}
	}
}

// rejoin is the periodic rejoin pass: each side merges its alive members.
func (w *World) rejoin() {
	w.eng.Schedule(w.eng.now+int64(w.sw.cfg.RejoinInterval), evRejoin, -1, 0)
	seen := map[int32]bool{}
	for j, m := range w.members {
		s := w.nw.side[j]
		if m.alive && !seen[s] {
			seen[s] = true
			w.eng.Schedule(w.eng.now+w.disseminationDelay(), evViewUpdate, -1, packView(opMerge, s))
		}
	}
}

// joinView gives member i (joining or restarting) the view of its side, as
// a push-pull join with one seed does, and announces it.
func (w *World) joinView(i int32) {
	v := w.sw.views[i]
	clear(v)
	for j, m := range w.members {
		if m.alive && w.nw.side[j] == w.nw.side[i] {
			v.set(int32(j))
		}
	}
	// A push-pull join with a seed, both ways, then its alive broadcast.
	n := v.count() // the side's alive members, just set
	w.met.memberSent(2 * pushPullBytes(n))
	w.broadcast(mlAliveBytes, n)
	w.eng.Schedule(w.eng.now+w.disseminationDelay(), evViewUpdate, i, packView(opAlive, w.nw.side[i]))
}
