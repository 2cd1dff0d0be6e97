package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// World is one simulation: the engine, the models and the members. It is
// single-threaded and owns all its state; build it with NewWorld and drive
// it with Step or RunUntil.
type World struct {
	sc      *Scenario
	eng     engine
	rng     *rand.Rand
	nw      *network
	sw      *swim
	met     *metrics
	syncCfg gossip.SyncConfig

	members []*member
	byID    map[crdt.ReplicaID]int32
	// ids interns replica IDs for every member's decoder: the simulation
	// is one goroutine, and an ID is immutable, so sharing its one copy
	// shares no state (see crdt.IDTable for what it saves).
	ids        *crdt.IDTable
	lim        crdt.Limits
	aliveCount int
	// Beyond fullViewLimit members: the ring every member's overlay
	// neighbours are read from, member index <-> ring index, and the
	// overlay's full-mesh bound (peers.go).
	ring       *gossip.Ring
	ringIdx    []int32
	ringMember []int32
	fullMesh   int
	dirtyPeers []int32
	regions    map[string]int

	msgs     []msgSlot
	freeMsgs []int32
	// coreDoneBuf is scratch for the shared cores' finished jobs.
	coreDoneBuf []coreJob
	pre         predecoder

	// gcInterval is how often members collect tombstones (0: never; only
	// runs whose workload deletes collect, tombstones.go).
	gcInterval int64

	writeRate float64
	writeSeq  uint64
	writeGen  int64 // bumped when the rate changes: older write chains stop
	// puts are workload writes waiting for their durable write, by id
	// (Topology.DiskWrites "changed").
	puts   map[int64]pendingPut
	putSeq int64
	keys   []crdt.Key
	pad    string

	fed     *fedModel
	series  []Sample
	lastSmp int64
	evAtSmp uint64
	end     int64
}

// NewWorld builds the world for a validated scenario: members placed in
// regions by weight (contiguous index blocks), every member alive and in
// every view (a federation that has already formed), timers at random
// phases.
func NewWorld(sc *Scenario) (*World, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	for i, e := range sc.Events {
		for _, s := range []*Selector{e.Crash, e.Restart} {
			if s == nil {
				continue
			}
			for _, idx := range s.Members {
				if idx >= sc.Members {
					return nil, fmt.Errorf("events[%d]: member index %d, but the scenario has %d members", i, idx, sc.Members)
				}
			}
		}
	}
	w := &World{
		sc:        sc,
		rng:       rand.New(rand.NewPCG(sc.Seed, 0x5eed5eed5eed5eed)),
		met:       newMetrics(),
		byID:      map[crdt.ReplicaID]int32{},
		regions:   map[string]int{},
		puts:      map[int64]pendingPut{},
		writeRate: sc.Workload.WritesPerSecond,
		end:       int64(sc.Duration),
	}
	w.sw = &swim{cfg: swimConfigFor(sc.Profile), susp: map[suspKey]*suspicion{}}
	gc := gossip.DefaultConfig()
	if sc.Profile == "wan" {
		gc = gossip.WANConfig()
	}
	w.syncCfg = sc.Sync.apply(gc.Sync)
	for i, r := range sc.Topology.Regions {
		w.regions[r.Name] = i
	}
	capacity := sc.Members + w.joinsPlanned()
	if sc.Workload.Deletes > 0 {
		// Beyond the full view members know only their overlay
		// neighbours (peers.go), and collection would wait for those
		// alone: tombstones could go before every member had the delete.
		if capacity > fullViewLimit {
			return nil, fmt.Errorf("workload deletes with %d members: tombstone collection needs every member handed the full live set, as production's are, which the simulator does up to %d members", capacity, fullViewLimit)
		}
		w.gcInterval = int64(gc.GCInterval)
		if sc.Sync.GCInterval != 0 {
			w.gcInterval = int64(sc.Sync.GCInterval)
		}
	}
	// Every member the run can have is interned up front and the table
	// frozen, so decoders on other goroutines share it (predecode.go).
	w.ids = crdt.NewIDTable(capacity)
	for i := range capacity {
		w.ids.Intern(memberID(int32(i)))
	}
	w.ids.Freeze()
	w.lim = crdt.DefaultLimits()
	w.pre = predecoder{workers: defaultDecodeWorkers(), lim: w.lim, ids: w.ids}
	if capacity >= spinMembers {
		w.pre.spinFor = spinFor
	}
	w.nw = newNetwork(sc.Topology, w.regions, capacity)
	if capacity > fullViewLimit {
		w.placeOnRing(capacity)
	}
	for k := range sc.Workload.Keys {
		key, err := crdt.MakeKey("sim.lattice.dev", "SimObject", "default", "obj-"+strconv.Itoa(k))
		if err != nil {
			return nil, fmt.Errorf("workload key: %w", err)
		}
		w.keys = append(w.keys, key)
	}
	w.pad = strings.Repeat("x", max(0, sc.Workload.ValueBytes-80))

	regionOf := w.regionBlocks(sc.Members)
	for i := range sc.Members {
		if _, err := w.addMember(regionOf[i]); err != nil {
			return nil, err
		}
	}
	for i := range w.members {
		v := w.sw.views[i]
		for j := range w.members {
			v.set(int32(j))
		}
		w.markPeersDirty(int32(i))
	}
	w.flushPeers()
	if sc.Deploy != nil {
		f, err := newFedModel(w, sc.Deploy)
		if err != nil {
			return nil, err
		}
		w.fed = f
	}
	for _, m := range w.members {
		w.startTimers(m)
	}
	w.eng.Schedule(w.rng.Int64N(int64(w.sw.cfg.RejoinInterval)), evRejoin, -1, 0)
	w.eng.Schedule(int64(sc.SampleInterval), evSample, -1, 0)
	w.scheduleNextWrite(int64(sc.Workload.Start))
	for i, e := range sc.Events {
		w.eng.Schedule(int64(e.At), evAction, -1, int64(i))
	}
	return w, nil
}

// joinsPlanned is how many members churn adds over the run.
func (w *World) joinsPlanned() int {
	n := 0
	for _, e := range w.sc.Events {
		if e.Churn != nil {
			n += int(math.Ceil(e.Churn.Fraction * float64(w.sc.Members)))
		}
	}
	return n
}

// regionBlocks assigns n members to regions in contiguous blocks
// proportional to the weights.
func (w *World) regionBlocks(n int) []int32 {
	var total float64
	for _, r := range w.sc.Topology.Regions {
		total += r.Weight
	}
	out := make([]int32, n)
	var acc float64
	start := 0
	for ri, r := range w.sc.Topology.Regions {
		acc += r.Weight
		end := int(math.Round(acc / total * float64(n)))
		if ri == len(w.sc.Topology.Regions)-1 {
			end = n
		}
		for i := start; i < end; i++ {
			out[i] = int32(ri)
		}
		start = end
	}
	return out
}

// addMember creates a member (alive, empty view) in region.
func (w *World) addMember(region int32) (*member, error) {
	i := int32(len(w.members))
	m, err := w.newMember(i, region)
	if err != nil {
		return nil, err
	}
	m.alive = true
	w.aliveCount++
	w.members = append(w.members, m)
	w.byID[m.id] = i
	w.nw.grow(len(w.members))
	capacity := max(len(w.members), len(w.nw.side))
	w.sw.views = append(w.sw.views, newBitset(capacity))
	for j := range w.sw.views {
		w.sw.views[j] = w.sw.views[j].grow(capacity)
	}
	w.sw.views[i].set(i)
	return m, nil
}

// startTimers starts an alive member's periodic work at random phases.
func (w *World) startTimers(m *member) {
	now := w.eng.now
	m.bornAt = now
	m.tickAt = -1
	w.eng.Schedule(now+w.rng.Int64N(int64(w.sw.cfg.ProbeInterval)), evProbe, m.idx, m.gen)
	// The first Sync tick at a random phase within one gossip interval,
	// so members do not run their rounds in lockstep.
	m.tickAt = now + w.rng.Int64N(int64(w.syncCfg.Interval))
	w.eng.Schedule(m.tickAt, evSyncTick, m.idx, m.gen)
	if w.gcInterval > 0 {
		w.eng.Schedule(now+1+w.rng.Int64N(w.gcInterval), evGC, m.idx, m.gen)
	}
	if m.ctl != nil {
		m.ctl.start(w)
	}
}

// SetDecodeWorkers sets how many goroutines decode messages ahead of
// their delivery while the world runs (0: every message is decoded at
// delivery, on the simulation's goroutine). The default is one fewer
// than GOMAXPROCS. Outputs do not depend on it.
func (w *World) SetDecodeWorkers(n int) { w.pre.workers = max(0, n) }

// Now is the virtual time.
func (w *World) Now() time.Duration { return time.Duration(w.eng.now) }

// Events is the number of events processed so far.
func (w *World) Events() uint64 { return w.eng.Processed() }

// Members is the number of members ever created.
func (w *World) Members() int { return len(w.members) }

// Replica returns member i's real crdt.Replica (for tests and tools).
func (w *World) Replica(i int) *crdt.Replica { return w.members[i].rep.r }

// Alive reports whether member i is up.
func (w *World) Alive(i int) bool { return w.members[i].alive }

// Done reports whether the scenario's duration has been simulated.
func (w *World) Done() bool { return w.eng.now >= w.end }

// RunUntil processes events up to virtual time t (capped at the scenario
// end) and leaves the clock at t.
func (w *World) RunUntil(t time.Duration) {
	until := min(int64(t), w.end)
	w.pre.start()
	defer w.pre.halt()
	for {
		ev, ok := w.eng.Next(until)
		if !ok {
			break
		}
		w.dispatch(ev)
		if len(w.dirtyPeers) > 0 {
			w.flushPeers()
		}
	}
	w.eng.AdvanceTo(until)
}

func (w *World) dispatch(ev event) {
	switch ev.kind {
	case evSyncTick:
		w.syncTick(ev.node, ev.arg)
	case evArrive:
		w.arrive(ev.node, int32(ev.arg))
	case evDeliver:
		w.deliver(ev.node, int32(ev.arg))
	case evProbe:
		if w.members[ev.node].gen == ev.arg {
			w.probe(ev.node)
		}
	case evSuspicionCheck:
		w.suspicionCheck(ev.node, int32(ev.arg))
	case evViewUpdate:
		w.viewUpdate(ev.node, ev.arg)
	case evWrite:
		if ev.arg == w.writeGen {
			w.write()
		}
	case evAction:
		w.action(w.sc.Events[ev.arg])
	case evController:
		if m := w.members[ev.node]; m.alive && m.gen == ev.arg && m.ctl != nil {
			m.ctl.tick(w)
		}
	case evSample:
		w.sample()
	case evRejoin:
		w.rejoin()
	case evFedCreate:
		w.fed.create(w)
	case evFedSample:
		w.fed.sample(w)
	case evChurn:
		w.churnStep(int(ev.arg), int(ev.node))
	case evCoreDone:
		w.coreDone(ev.arg)
	case evRelease:
		w.release(ev.node, ev.arg)
	case evPutDurable:
		w.putDurable(ev.arg)
	case evGC:
		if m := w.members[ev.node]; m.alive && m.gen == ev.arg {
			w.collectGarbage(m)
		}
	}
}

// scheduleNextWrite queues the next workload write after from.
func (w *World) scheduleNextWrite(from int64) {
	if w.writeRate <= 0 {
		return
	}
	gap := 1e9 / w.writeRate
	if w.sc.Workload.Arrival == "sequential" {
		gap = float64(w.sc.Workload.Gap)
	} else if w.sc.Workload.Arrival == "poisson" {
		gap = w.rng.ExpFloat64() * gap
	}
	at := from + int64(gap)
	if stop := int64(w.sc.Workload.Stop); stop > 0 && at >= stop {
		return
	}
	w.eng.Schedule(at, evWrite, -1, w.writeGen)
}

// writeSettled starts a sequential workload's next write once no write is
// pending: the last one converged, failed, or reached no one to wait for.
func (w *World) writeSettled() {
	if w.sc.Workload.Arrival == "sequential" && len(w.met.pending) == 0 {
		w.scheduleNextWrite(w.eng.now)
	}
}

// write makes one workload write: a real Put on a random alive member's
// replica, then a Notify so its Sync runs a round at once (as the store's
// change notification does in gossip.Node). Under Topology.DiskWrites
// "changed" the Put is durable first, as a store's is: it lands (is
// applied and notified) when its synced write is done, and its
// convergence counts from when it was issued.
func (w *World) write() {
	if w.sc.Workload.Arrival != "sequential" {
		w.scheduleNextWrite(w.eng.now)
	}
	o := w.randomAlive()
	if o < 0 {
		return
	}
	m := w.members[o]
	w.writeSeq++
	var put pendingPut
	if k, ok := w.deleteTarget(m); ok {
		put = pendingPut{member: o, gen: m.gen, at: w.eng.now, key: k, delete: true}
	} else {
		k := w.keys[w.rng.IntN(len(w.keys))]
		_, _, _, name := k.Parts()
		put = pendingPut{member: o, gen: m.gen, at: w.eng.now, key: k,
			val: fmt.Sprintf(`{"kind":"SimObject","metadata":{"name":%q},"spec":{"seq":%d,"pad":%q}}`, name, w.writeSeq, w.pad)}
	}
	if !w.nw.writesChanged {
		w.land(put)
		return
	}
	w.putSeq++
	w.puts[w.putSeq] = put
	w.eng.Schedule(w.nw.write(w.rng, w.eng.now, w.eng.now), evPutDurable, o, w.putSeq)
}

// pendingPut is a workload write issued at a member, not yet durable.
type pendingPut struct {
	member int32
	gen    int64
	at     int64 // when it was issued
	key    crdt.Key
	val    string
	delete bool // a delete of key (Workload.Deletes), not a put of val
}

// putDurable lands the workload write id once its synced write is done,
// unless its member crashed meanwhile (the Put fails, as a store's does).
func (w *World) putDurable(id int64) {
	put := w.puts[id]
	delete(w.puts, id)
	if m := w.members[put.member]; !m.alive || m.gen != put.gen {
		w.writeSettled()
		return
	}
	w.land(put)
}

// land applies a workload write at its member and tracks it.
func (w *World) land(put pendingPut) {
	m := w.members[put.member]
	var u crdt.Update
	var err error
	if put.delete {
		u, err = m.rep.r.Delete(put.key, 0)
		if errors.Is(err, crdt.ErrNotFound) {
			// Deleted by another member while the synced write ran: the
			// delete fails, as a client's would.
			w.writeSettled()
			return
		}
	} else {
		u, err = m.rep.r.Put(put.key, []byte(put.val), crdt.PutOptions{})
	}
	if err != nil {
		w.met.syncErrors++
		return
	}
	if u.Entry != nil && len(u.Entry.Dots) == 1 {
		w.track(put.member, u.Entry.Dots[0], put.at)
	}
	if w.gcInterval > 0 {
		w.trackTombstone(put)
	}
	w.localCommit(m, u)
	w.writeSettled() // converged at once when no other member needs it
	m.sync.Notify(toTime(w.eng.now))
	w.scheduleTick(m)
}

// localWrite is a write by the federation controller of member m.
func (w *World) localWrite(m *member, key crdt.Key, val []byte) error {
	u, err := m.rep.r.Put(key, val, crdt.PutOptions{})
	if err != nil {
		return fmt.Errorf("member %s put %s: %w", m.name, key, err)
	}
	w.localCommit(m, u)
	m.sync.Notify(toTime(w.eng.now))
	w.scheduleTick(m)
	return nil
}

// localCommit notes a local Put's commit under Topology.DiskWrites
// "changed": it writes the metadata, so the member's next message is
// compared with that, as its store's would be. (The Put itself takes no
// modelled time: the workload measures from its start.)
func (w *World) localCommit(m *member, u crdt.Update) {
	if !w.nw.writesChanged {
		return
	}
	if _, err := m.meta.Batch(m.rep.r.Meta(), u); err != nil {
		w.met.syncErrors++
	}
}

func (w *World) randomAlive() int32 {
	if w.aliveCount == 0 {
		return -1
	}
	n := int32(len(w.members))
	for {
		i := w.rng.Int32N(n)
		if w.members[i].alive {
			return i
		}
	}
}
