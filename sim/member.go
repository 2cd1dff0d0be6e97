package sim

import (
	"errors"
	"fmt"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// member is one simulated member: the real replication core (crdt.Replica
// with an HLC on the virtual clock) and the real anti-entropy session core
// (gossip.Sync), plus the simulator's bookkeeping.
type member struct {
	idx    int32
	id     crdt.ReplicaID
	name   string
	region int32
	alive  bool
	// gen changes on every crash and restart: events scheduled for an
	// earlier life of the member carry the old gen and are ignored.
	gen  int64
	inc  int  // incarnation, for the federation controller
	left bool // departed for good (churn)
	// bornAt is when this life of the member started its timers
	// (memberlist's push-pull timer among them: membership.go).
	bornAt int64

	clock *crdt.Clock
	rep   *recordingReplica
	sync  *gossip.Sync
	// tickAt is when the next Sync tick is queued (-1: none).
	tickAt int64
	// busyUntil is when the member finishes processing the messages it
	// has accepted: gossip.Node handles its inbox one message at a time,
	// each durable before the next, so a busy member queues.
	busyUntil int64
	// inbox and busy are the member's loop under the shared host
	// scheduler: the messages waiting, and whether one is being handled.
	inbox []int32
	busy  bool
	// started is when the message in hand began its computation.
	started int64
	// Under Topology.DiskWrites "changed": meta decides, by the store's
	// rule, whether a handled message takes a durable write, and held is
	// the handled message waiting for it.
	meta crdt.MetaTracker
	held heldMsg

	peers      []int32 // anti-entropy peers (see peers.go)
	peersDirty bool

	ctl *controller // federation controller model, when the scenario has one
}

// heldMsg is a message its member has applied whose replies and delivery
// wait for the durable write (Topology.DiskWrites "changed").
type heldMsg struct {
	msg    crdt.Message
	update crdt.Update
	out    []gossip.Envelope
}

// recordingReplica adapts a crdt.Replica to gossip.Replica like
// gossip.MemoryReplica does, and also keeps the crdt.Update of the last
// Step so the simulator can see which writes it applied (convergence).
type recordingReplica struct {
	r    *crdt.Replica
	last crdt.Update
}

func (a *recordingReplica) ID() crdt.ReplicaID { return a.r.ID() }

// Seq makes the replica a gossip.Sequencer, as production's StoreReplica
// is, so Sync skips idle rounds here exactly as it does there.
func (a *recordingReplica) Seq() uint64 { return a.r.Seq() }

func (a *recordingReplica) DeltaFor(peer crdt.ReplicaID) (*crdt.DeltaMsg, error) {
	return a.r.DeltaFor(peer)
}

func (a *recordingReplica) StartRepair(peer crdt.ReplicaID) (*crdt.DigestMsg, error) {
	return a.r.StartRepair(peer), nil
}

func (a *recordingReplica) Step(m crdt.Message) (crdt.Message, error) {
	u, reply, err := a.r.Step(m)
	a.last = u
	return reply, err
}

// newMember builds member i's cores. Its Sync seed is derived from the
// scenario seed, so peer choices are reproducible.
func (w *World) newMember(i int32, region int32) (*member, error) {
	id := w.ids.Intern(memberID(i))
	m := &member{idx: i, id: id, name: fmt.Sprintf("member-%d", i+1), region: region, tickAt: -1}
	m.clock = crdt.NewClock(virtualClock{eng: &w.eng}, 0)
	rc := crdt.DefaultReplicaConfig(id, m.clock)
	// Durability is modelled (Topology.ProcessDelay), not done: reports
	// claim the current clock, as a store's do once its batch is durable.
	rc.Volatile = true
	rep, err := crdt.NewReplica(rc)
	if err != nil {
		return nil, fmt.Errorf("member %d: %w", i, err)
	}
	m.rep = &recordingReplica{r: rep}
	if err := w.newSync(m); err != nil {
		return nil, err
	}
	return m, nil
}

// memberID is member i's replica ID: shaped and sized as production's
// (did:key Ed25519 DIDs, 56 characters), since every message carries IDs
// and the bandwidth figures count them. Six base58 digits of i come first
// (so IDs are distinct and sort as the members do), then pseudo-random
// base58 as a public key's encoding would be.
func memberID(i int32) crdt.ReplicaID {
	const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	var digits [6]byte
	for d, n := len(digits)-1, uint32(i); d >= 0; d, n = d-1, n/58 {
		digits[d] = b58[n%58]
	}
	b := make([]byte, 0, didLen)
	b = append(b, "did:key:z6Mk"...)
	b = append(b, digits[:]...)
	x := uint64(uint32(i))
	for len(b) < didLen {
		x = splitmix(x)
		b = append(b, b58[x%58])
	}
	return crdt.ReplicaID(b)
}

// didLen is the length of a did:key Ed25519 DID.
const didLen = 56

// newSync gives m a fresh session core, as a restarted node gets: session
// state (in-flight deltas, open repairs) is not durable; the replica is.
func (w *World) newSync(m *member) error {
	s, err := gossip.NewSync(w.syncCfg, m.rep, splitmix(w.sc.Seed^uint64(m.idx)<<20^uint64(m.gen)))
	if err != nil {
		return fmt.Errorf("member %d: %w", m.idx, err)
	}
	m.sync = s
	return nil
}

// splitmix is SplitMix64's finalizer: it spreads related seeds apart.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// scheduleTick queues m's next Sync tick at the time Sync asks for,
// unless one is already queued no later.
func (w *World) scheduleTick(m *member) {
	next := m.sync.NextTick()
	at := w.eng.now
	if !next.IsZero() {
		at = max(at, fromTime(next))
	}
	if m.tickAt >= 0 && m.tickAt <= at {
		return
	}
	m.tickAt = at
	w.eng.Schedule(at, evSyncTick, m.idx, m.gen)
}

// syncTick runs Sync.Tick, exactly as gossip.Node's loop does.
func (w *World) syncTick(i int32, gen int64) {
	m := w.members[i]
	if !m.alive || gen != m.gen || w.eng.now != m.tickAt {
		return // stale: the member crashed or a sooner tick replaced it
	}
	m.tickAt = -1
	out, err := m.sync.Tick(toTime(w.eng.now))
	if err != nil {
		w.met.syncErrors++
	}
	w.sendAll(m, out)
	w.scheduleTick(m)
}

// msgSlot is a message on the wire.
type msgSlot struct {
	from int32
	gen  int64        // receiver's gen when sent
	sent crdt.Message // as its sender built it, prepared (gossip.PrepareFrame)
	size int          // its frame's length
	job  *decodeJob   // its encoding and decoding ahead of delivery (nil: none)
}

// sendAll puts Sync's envelopes on the wire: each is prepared for the real
// frame codec (its exact frame length is what the link model and the
// bandwidth metric count), delayed by the link model and maybe lost; it
// is encoded and decoded by the end of its delivery (transmit), so
// members never share memory, as over QUIC.
func (w *World) sendAll(from *member, out []gossip.Envelope) {
	for _, env := range out {
		to, ok := w.byID[env.To]
		if !ok {
			continue
		}
		size, err := gossip.PrepareFrame(env.Msg)
		if err != nil {
			w.met.syncErrors++
			continue
		}
		w.met.sent(size)
		tm := w.members[to]
		if !w.nw.sameSide(from.idx, to) {
			continue // partitioned: the connection attempt fails
		}
		lm := w.nw.link(from.region, tm.region)
		if lm.lost(w.rng) {
			continue
		}
		slot := w.allocMsg(msgSlot{from: from.idx, gen: tm.gen, sent: env.Msg, size: size, job: w.pre.queue(env.Msg, size)})
		w.eng.Schedule(w.nw.arrival(w.rng, lm, w.eng.now, size), evArrive, to, int64(slot))
	}
	w.pre.flush()
}

func (w *World) allocMsg(s msgSlot) int32 {
	if n := len(w.freeMsgs); n > 0 {
		i := w.freeMsgs[n-1]
		w.freeMsgs = w.freeMsgs[:n-1]
		w.msgs[i] = s
		return i
	}
	w.msgs = append(w.msgs, s)
	return int32(len(w.msgs) - 1)
}

// arrive queues an arrived message at its receiver: it is handled once
// the receiver has processed everything before it, plus its own
// processing time: computation (Topology.ProcessCPU, on shared host
// cores when HostCores is set), then the durable write (ProcessDelay,
// ProcessSigma, on the disk model the topology chose). With FIFO cores
// both are scheduled here; with shared cores the message waits in the
// member's inbox until its loop takes it (startNext).
func (w *World) arrive(to int32, slot int32) {
	m := w.members[to]
	if !w.nw.processing() || (w.nw.shared != nil && (!m.alive || w.msgs[slot].gen != m.gen)) {
		w.deliver(to, slot)
		return
	}
	if w.nw.shared != nil {
		m.inbox = append(m.inbox, slot)
		if !m.busy {
			w.startNext(m)
		}
		return
	}
	start := max(w.eng.now, m.busyUntil)
	done := w.nw.handle(w.rng, w.eng.now, start)
	m.busyUntil = done
	w.met.handling += done - start
	w.met.handled++
	w.eng.Schedule(done, evDeliver, to, int64(slot))
}

// deliver hands a message to its receiver's Sync, as gossip.Node.receive
// does, then records which tracked writes it applied.
func (w *World) deliver(to int32, slot int32) {
	m := w.members[to]
	if s := w.msgs[slot]; !m.alive || s.gen != m.gen {
		w.freeMsg(slot)
		return // the receiver crashed or restarted meanwhile
	}
	if w.nw.shared != nil {
		w.handledOne(m)
		defer w.startNext(m) // the member's loop moves on to its next message
	}
	msg, out, ok := w.receive(m, slot)
	if !ok {
		return
	}
	w.noteApplied(m, msg)
	w.sendAll(m, out)
	w.scheduleTick(m)
}

// receive frees slot and hands its message to m's Sync; ok is false when
// m no longer takes it (crashed, restarted or cut off meanwhile) or it
// does not decode.
func (w *World) receive(m *member, slot int32) (crdt.Message, []gossip.Envelope, bool) {
	s := w.msgs[slot]
	w.freeMsg(slot)
	if !m.alive || s.gen != m.gen || !w.nw.sameSide(s.from, m.idx) {
		return nil, nil, false
	}
	msg, err := w.pre.decode(s.job, s.sent, s.size)
	if err != nil {
		w.met.syncErrors++
		return nil, nil, false
	}
	m.rep.last = crdt.Update{}
	out, err := m.sync.Receive(toTime(w.eng.now), msg)
	if err != nil && !errors.Is(err, crdt.ErrUnknownSession) {
		w.met.syncErrors++
	}
	return msg, out, true
}

// applyHeld applies a message whose computation has ended (Topology.
// DiskWrites "changed") and holds its replies until the durable write the
// store would make for it, if any: then release delivers them.
func (w *World) applyHeld(m *member, slot int32) {
	msg, out, ok := w.receive(m, slot)
	if !ok {
		w.handledOne(m)
		w.startNext(m)
		return
	}
	m.held = heldMsg{msg: msg, update: m.rep.last, out: out}
	need, err := m.meta.Batch(m.rep.r.Meta(), m.rep.last)
	if err != nil {
		w.met.syncErrors++
	}
	if !need {
		w.release(m.idx, m.gen)
		return
	}
	w.eng.Schedule(w.nw.write(w.rng, w.eng.now, w.eng.now), evRelease, m.idx, m.gen)
}

// handledOne counts the end of m's message in hand (shared cores).
func (w *World) handledOne(m *member) {
	w.met.handling += w.eng.now - m.started
	w.met.handled++
}

// release completes m's held message once it is durable: its tracked
// writes count as applied, its replies go out and m's loop moves on.
func (w *World) release(to int32, gen int64) {
	m := w.members[to]
	if !m.alive || m.gen != gen {
		return // crashed meanwhile: the replies are lost with the process
	}
	w.handledOne(m)
	h := m.held
	m.held = heldMsg{}
	m.rep.last = h.update
	w.noteApplied(m, h.msg)
	w.sendAll(m, h.out)
	w.scheduleTick(m)
	w.startNext(m)
}

func (w *World) freeMsg(slot int32) {
	w.msgs[slot] = msgSlot{}
	w.freeMsgs = append(w.freeMsgs, slot)
}

// startNext starts m's next message on the shared cores, if it has one
// (the shared host scheduler: its computation, then its durable write,
// then its delivery, before the next).
func (w *World) startNext(m *member) {
	m.busy = len(m.inbox) > 0
	if !m.busy {
		return
	}
	slot := m.inbox[0]
	m.inbox = m.inbox[1:]
	m.started = w.eng.now
	w.nw.shared.add(w.eng.now, m.idx, slot, w.nw.cpu)
	w.scheduleCoreDone()
}

// scheduleCoreDone queues the shared cores' next completion; it
// supersedes any queued before.
func (w *World) scheduleCoreDone() {
	if at, version, ok := w.nw.shared.next(); ok {
		w.eng.Schedule(at, evCoreDone, -1, version)
	}
}

// coreDone moves the messages whose computation is done to the disk.
func (w *World) coreDone(version int64) {
	h := w.nw.shared
	if version != h.version {
		return // superseded
	}
	w.coreDoneBuf = h.finish(w.eng.now, w.coreDoneBuf[:0])
	for _, j := range w.coreDoneBuf {
		if w.nw.writesChanged {
			w.applyHeld(w.members[j.member], j.slot)
			continue
		}
		w.eng.Schedule(w.nw.write(w.rng, w.eng.now, w.eng.now), evDeliver, j.member, int64(j.slot))
	}
	w.scheduleCoreDone()
}

// dropLoop empties a crashed member's loop: the messages it had not
// handled are lost with the process.
func (w *World) dropLoop(m *member) {
	if w.nw.shared == nil {
		return
	}
	for _, slot := range m.inbox {
		w.freeMsg(slot)
	}
	m.inbox, m.busy = m.inbox[:0], false
	m.held = heldMsg{}
	w.coreDoneBuf = w.nw.shared.remove(w.eng.now, m.idx, w.coreDoneBuf[:0])
	for _, j := range w.coreDoneBuf {
		w.freeMsg(j.slot)
	}
	w.scheduleCoreDone()
}
