package gossip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lattice-federation/lattice/crdt"
)

// Replica is what anti-entropy needs of a member's replicated state. The
// store (crdt.Store, durable) and a bare crdt.Replica (the simulator)
// both provide it; see StoreReplica and MemoryReplica.
type Replica interface {
	ID() crdt.ReplicaID
	// DeltaFor returns the deltas peer has not acknowledged, nil when none,
	// or an error wrapping crdt.ErrNeedRepair.
	DeltaFor(peer crdt.ReplicaID) (*crdt.DeltaMsg, error)
	// StartRepair opens a digest repair with peer.
	StartRepair(peer crdt.ReplicaID) (*crdt.DigestMsg, error)
	// Step applies a peer's message and returns the reply (nil: none),
	// sent only once what it acknowledges is durable.
	Step(m crdt.Message) (crdt.Message, error)
}

// Sequencer is implemented by replicas that expose the sequence number of
// their latest applied change (crdt.Replica.Seq, the Store's
// resourceVersion). Sync then skips gossip rounds that cannot send
// anything: nothing changed since a round that found every peer up to
// date. Idle members cost no DeltaFor calls.
type Sequencer interface {
	Seq() uint64
}

// SyncConfig tunes anti-entropy.
type SyncConfig struct {
	// Fanout is how many live peers each gossip round pushes deltas to.
	Fanout int
	// Interval is the gossip round period.
	Interval time.Duration
	// RepairInterval is how often a digest repair runs with one peer,
	// each live peer in turn.
	RepairInterval time.Duration
	// AckTimeout: a delta unacknowledged this long is presumed lost, and
	// the peer may be sent deltas again.
	AckTimeout time.Duration
	// RepairTimeout: a repair session silent this long is abandoned.
	RepairTimeout time.Duration
	// FullMesh: with at most this many live peers, rounds push to any of
	// them; with more, only to the member's overlay neighbours (see
	// Ring), so a change costs O(N log N) messages, not N^2. Repairs
	// visit every live peer either way.
	FullMesh int
}

// DefaultSyncConfig returns the LAN defaults.
func DefaultSyncConfig() SyncConfig {
	return SyncConfig{
		Fanout:         3,
		Interval:       50 * time.Millisecond,
		RepairInterval: 5 * time.Second,
		AckTimeout:     2 * time.Second,
		RepairTimeout:  10 * time.Second,
		FullMesh:       32,
	}
}

// Validate checks the configuration.
func (c SyncConfig) Validate() error {
	switch {
	case c.Fanout < 1:
		return fmt.Errorf("sync fanout %d: must be at least 1", c.Fanout)
	case c.Interval <= 0, c.RepairInterval <= 0, c.AckTimeout <= 0, c.RepairTimeout <= 0:
		return errors.New("sync intervals and timeouts must be positive")
	case c.FullMesh < 0:
		return fmt.Errorf("sync full mesh %d: must not be negative", c.FullMesh)
	}
	return nil
}

// Envelope is a message to send to a peer.
type Envelope struct {
	To  crdt.ReplicaID
	Msg crdt.Message
}

// SyncStats counts what a session did.
type SyncStats struct {
	DeltasSent     uint64
	RepairsStarted uint64
	RepairsDone    uint64
	AcksLost       uint64
	Rejected       uint64
}

// Sync is the anti-entropy session core of one member: a pure state
// machine. Inputs are the live peer set (SetPeers), local changes
// (Notify), received messages (Receive) and time (Tick); outputs are the
// envelopes to send. It never touches a socket or the wall clock; the
// gossip node drives it over QUIC and the simulator on a virtual clock.
//
// Each round it pushes unacknowledged deltas to Fanout random neighbours
// (every live peer in a federation of at most FullMesh others, else the
// overlay's; see Ring),
// at most one delta in flight per peer: a slow peer is sent nothing more
// until it acknowledges or AckTimeout passes, which bounds memory and
// bandwidth spent on it (its deltas stay in the replica's buffer, or are
// recovered by digest repair once pruned). Every RepairInterval it opens
// a digest repair with the next live peer of a random cyclic order (each
// peer in turn), and at once with a peer whose buffered deltas were
// pruned (crdt.ErrNeedRepair).
type Sync struct {
	cfg   SyncConfig
	r     Replica
	rng   *rand.Rand
	peers []crdt.ReplicaID // live, sorted
	// targets are the peers rounds push to: the overlay neighbours among
	// peers (all of them up to FullMesh).
	targets []crdt.ReplicaID

	inflight   map[crdt.ReplicaID]flight
	repairing  map[crdt.ReplicaID]time.Time
	nextRound  time.Time
	nextRepair time.Time
	started    bool
	stats      SyncStats
	// roundSeq is the replica sequence the last round saw. idle: that
	// round sent nothing with nothing in flight or being repaired; until
	// the replica changes (or the peers do) a round would send nothing
	// again.
	idle     bool
	roundSeq uint64
	// order is push's scratch copy of targets, shuffled each round.
	order []crdt.ReplicaID
	// repairOrder is the peers in the order periodic repairs visit them,
	// reshuffled each cycle; repairNext is the next one's index.
	repairOrder []crdt.ReplicaID
	repairNext  int
}

type flight struct {
	seq  uint64
	sent time.Time
}

// NewSync returns the session core for r; seed fixes its peer choices.
func NewSync(cfg SyncConfig, r Replica, seed uint64) (*Sync, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sync{
		cfg:       cfg,
		r:         r,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		inflight:  map[crdt.ReplicaID]flight{},
		repairing: map[crdt.ReplicaID]time.Time{},
	}, nil
}

// Stats returns the counters.
func (s *Sync) Stats() SyncStats { return s.stats }

// Peers returns the live peers (sorted).
func (s *Sync) Peers() []crdt.ReplicaID { return slices.Clone(s.peers) }

// Targets returns the peers gossip rounds push to (sorted): every live
// peer up to FullMesh of them, else the overlay neighbours.
func (s *Sync) Targets() []crdt.ReplicaID { return slices.Clone(s.targets) }

// SetPeers sets the live peers (self is ignored) and derives the push
// targets from them. State about departed peers is dropped.
func (s *Sync) SetPeers(live []crdt.ReplicaID) {
	self := s.r.ID()
	s.peers = append(s.peers[:0], live...)
	slices.Sort(s.peers)
	s.peers = slices.Compact(s.peers)
	if i, ok := slices.BinarySearch(s.peers, self); ok {
		s.peers = slices.Delete(s.peers, i, i+1)
	}
	s.keepRepairCycle()
	if len(s.peers) <= s.cfg.FullMesh {
		s.targets = append(s.targets[:0], s.peers...)
	} else {
		s.targets = NewRing(append(slices.Clone(s.peers), self)).Neighbours(self, s.cfg.FullMesh)
	}
	s.idle = false
	for p := range s.inflight {
		if !s.live(p) {
			delete(s.inflight, p)
		}
	}
	for p := range s.repairing {
		if !s.live(p) {
			delete(s.repairing, p)
		}
	}
}

func (s *Sync) live(p crdt.ReplicaID) bool {
	_, ok := slices.BinarySearch(s.peers, p)
	return ok
}

// Notify says the replica changed (a local write, or a remote one to pass
// on): the next Tick runs a gossip round at once. Drivers must call it on
// every change of the replica they did not make through Receive: an idle
// Sync (see NextTick) otherwise notices the change only at its next repair.
func (s *Sync) Notify(now time.Time) {
	s.idle = false
	if s.nextRound.After(now) {
		s.nextRound = now
	}
}

// Changed says the replica may have changed by some means the driver
// learned of from outside Sync (gossip.Node watches its store for local
// writes). Like Notify it makes a round due at once, unless the replica's
// sequence number is the one the last round saw: then the change was one
// a Receive already acted on (its round has run), and a second round now
// would push to another Fanout peers for no new data. Without a Sequencer
// it is Notify.
func (s *Sync) Changed(now time.Time) {
	if seq, ok := s.replicaSeq(); ok && s.started && seq == s.roundSeq {
		return
	}
	s.Notify(now)
}

// NextTick returns when Tick next has work. An idle Sync (its last round
// found every peer up to date, nothing is in flight or being repaired, and
// nothing has happened since) has none until its next repair, so an idle
// member wakes once per RepairInterval instead of once per Interval; a
// Notify, Receive or SetPeers ends idleness.
func (s *Sync) NextTick() time.Time {
	if !s.started {
		return time.Time{}
	}
	if s.idle && len(s.inflight) == 0 && len(s.repairing) == 0 {
		return s.nextRepair
	}
	if s.nextRepair.Before(s.nextRound) {
		return s.nextRepair
	}
	return s.nextRound
}

// Tick advances time: it runs a gossip round and a repair when due, and
// returns what to send.
func (s *Sync) Tick(now time.Time) ([]Envelope, error) {
	if !s.started {
		s.started = true
		s.nextRound = now
		// Stagger first repairs so members started together do not all
		// repair at once.
		s.nextRepair = now.Add(time.Duration(s.rng.Int64N(int64(s.cfg.RepairInterval))) + 1)
	}
	var out []Envelope
	for p, f := range s.inflight {
		if now.Sub(f.sent) >= s.cfg.AckTimeout {
			delete(s.inflight, p)
			s.stats.AcksLost++
		}
	}
	for p, at := range s.repairing {
		if now.Sub(at) >= s.cfg.RepairTimeout {
			delete(s.repairing, p)
		}
	}
	if !now.Before(s.nextRound) {
		s.nextRound = now.Add(s.cfg.Interval)
		env, err := s.round(now)
		// Send what the round produced even if a later peer failed: the
		// earlier peers are already marked in flight.
		out = append(out, env...)
		if err != nil {
			return out, err
		}
	}
	if !now.Before(s.nextRepair) {
		s.nextRepair = now.Add(s.cfg.RepairInterval)
		if p, ok := s.nextRepairPeer(); ok {
			env, err := s.repair(now, p)
			if err != nil {
				return out, err
			}
			out = append(out, env)
		}
	}
	return out, nil
}

// replicaSeq is the replica's sequence number, if it is a Sequencer.
func (s *Sync) replicaSeq() (uint64, bool) {
	if q, ok := s.r.(Sequencer); ok {
		return q.Seq(), true
	}
	return 0, false
}

// round pushes deltas to up to Fanout random peers that have something
// to receive and nothing in flight, unless the last round found nothing
// to send and the replica has not changed since.
func (s *Sync) round(now time.Time) ([]Envelope, error) {
	seq, canSkip := s.replicaSeq()
	if canSkip && s.idle && seq == s.roundSeq {
		return nil, nil
	}
	out, err := s.push(now)
	s.idle = canSkip && err == nil && len(out) == 0 && len(s.inflight) == 0 && len(s.repairing) == 0
	s.roundSeq = seq
	return out, err
}

// push runs one round: deltas to up to Fanout random targets.
func (s *Sync) push(now time.Time) ([]Envelope, error) {
	order := append(s.order[:0], s.targets...)
	s.order = order
	s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var out []Envelope
	for _, p := range order {
		if len(out) >= s.cfg.Fanout {
			break
		}
		if _, busy := s.inflight[p]; busy {
			continue
		}
		m, err := s.r.DeltaFor(p)
		switch {
		case errors.Is(err, crdt.ErrNeedRepair):
			if _, busy := s.repairing[p]; !busy {
				env, err := s.repair(now, p)
				if err != nil {
					return out, err
				}
				out = append(out, env)
			}
			continue
		case err != nil:
			return out, fmt.Errorf("delta for %s: %w", p, err)
		case m == nil:
			continue
		}
		s.inflight[p] = flight{seq: m.Seq, sent: now}
		s.stats.DeltasSent++
		out = append(out, Envelope{To: p, Msg: m})
	}
	return out, nil
}

func (s *Sync) repair(now time.Time, p crdt.ReplicaID) (Envelope, error) {
	d, err := s.r.StartRepair(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("repair with %s: %w", p, err)
	}
	s.repairing[p] = now
	s.stats.RepairsStarted++
	return Envelope{To: p, Msg: d}, nil
}

// keepRepairCycle carries the repair cycle over a change of the live
// peers: the peers it has not visited yet come first (those still live),
// then the new ones in random order, then those it has visited; churn
// thus never pushes a peer's turn back.
func (s *Sync) keepRepairCycle() {
	done := min(s.repairNext, len(s.repairOrder))
	known := make(map[crdt.ReplicaID]bool, len(s.repairOrder))
	for _, p := range s.repairOrder {
		known[p] = true
	}
	order := make([]crdt.ReplicaID, 0, len(s.peers))
	for _, p := range s.repairOrder[done:] {
		if s.live(p) {
			order = append(order, p)
		}
	}
	fresh := len(order)
	for _, p := range s.peers {
		if !known[p] {
			order = append(order, p)
		}
	}
	added := order[fresh:]
	s.rng.Shuffle(len(added), func(i, j int) { added[i], added[j] = added[j], added[i] })
	for _, p := range s.repairOrder[:done] {
		if s.live(p) {
			order = append(order, p)
		}
	}
	s.repairOrder, s.repairNext = order, 0
}

// nextRepairPeer returns the next live peer not being repaired in a
// random cyclic order of the peers, reshuffled each cycle: each is
// repaired once per cycle of len(peers) periodic repairs. Beyond the
// overlay a member hears a peer's report (which tombstone collection
// needs from every live member) mostly from repairs: in turn, a member's
// reports of all its peers are at most two cycles old, where random picks
// leave the last of them about ln(len(peers)) cycles behind.
func (s *Sync) nextRepairPeer() (crdt.ReplicaID, bool) {
	for range len(s.repairOrder) {
		if s.repairNext >= len(s.repairOrder) {
			s.repairNext = 0
			s.rng.Shuffle(len(s.repairOrder), func(i, j int) {
				s.repairOrder[i], s.repairOrder[j] = s.repairOrder[j], s.repairOrder[i]
			})
		}
		p := s.repairOrder[s.repairNext]
		s.repairNext++
		if _, busy := s.repairing[p]; !busy {
			return p, true
		}
	}
	return "", false
}

// Receive handles a message from an authenticated peer (m.Sender() must
// be the peer the caller authenticated) and returns what to send back.
// An invalid message is counted and returned as an error; the replica is
// unchanged by it.
func (s *Sync) Receive(now time.Time, m crdt.Message) ([]Envelope, error) {
	from := m.Sender()
	seqBefore, seqKnown := s.replicaSeq()
	reply, err := s.r.Step(m)
	if err != nil {
		s.stats.Rejected++
		return nil, err
	}
	// Only a change of the replica can give a peer something new to
	// receive: acknowledgements, digests and reports only shrink what
	// peers need, so an in-sync repair leaves an idle Sync idle. Without
	// a Sequencer every message counts as a change.
	seqAfter, _ := s.replicaSeq()
	changed := !seqKnown || seqAfter != seqBefore
	if changed {
		s.idle = false
	}
	switch t := m.(type) {
	case *crdt.AckMsg:
		if f, ok := s.inflight[from]; ok && t.Seq >= f.seq {
			delete(s.inflight, from)
		}
	case *crdt.DeltaMsg:
		// What came in may need passing on. A duplicate runs a round at
		// once too: while a write spreads, each copy received pushes it
		// on to more peers sooner than the next Interval would.
		s.Notify(now)
	case *crdt.KeysMsg:
		if t.InSync {
			s.finishRepair(from)
		}
	case *crdt.RepairMsg:
		if changed {
			s.Notify(now)
		}
		if t.Final {
			s.finishRepair(from)
			if t.Partial && s.live(from) {
				// The responder hit the message cap: continue at once.
				env, err := s.repair(now, from)
				if err != nil {
					return s.replyTo(from, reply), err
				}
				return append(s.replyTo(from, reply), env), nil
			}
		}
	}
	return s.replyTo(from, reply), nil
}

func (s *Sync) finishRepair(p crdt.ReplicaID) {
	if _, ok := s.repairing[p]; ok {
		delete(s.repairing, p)
		s.stats.RepairsDone++
	}
}

func (s *Sync) replyTo(p crdt.ReplicaID, reply crdt.Message) []Envelope {
	if reply == nil {
		return nil
	}
	return []Envelope{{To: p, Msg: reply}}
}
