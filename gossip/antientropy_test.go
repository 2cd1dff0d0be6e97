package gossip

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// fakeClock is a physical clock the test advances.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// memNet runs Sync cores over in-memory replicas on a fake clock, with a
// message queue that can drop or hold messages: deterministic, no sleeps.
type memNet struct {
	t     *testing.T
	clock *fakeClock
	reps  map[crdt.ReplicaID]*crdt.Replica
	syncs map[crdt.ReplicaID]*Sync
	ids   []crdt.ReplicaID
	queue []Envelope
	// cut reports whether a message from → to is lost.
	cut  func(from, to crdt.ReplicaID) bool
	sent int
	// onSend, when set, sees every envelope sent.
	onSend func(from crdt.ReplicaID, e Envelope)
}

func newMemNet(t *testing.T, n int, cfg SyncConfig) *memNet {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	net := &memNet{t: t, clock: clock, reps: map[crdt.ReplicaID]*crdt.Replica{}, syncs: map[crdt.ReplicaID]*Sync{}}
	for i := range n {
		id := crdt.ReplicaID(fmt.Sprintf("r%02d", i))
		net.ids = append(net.ids, id)
		rc := crdt.DefaultReplicaConfig(id, crdt.NewClock(clock, 0))
		rc.Volatile = true
		r, err := crdt.NewReplica(rc)
		require.NoError(t, err)
		net.reps[id] = r
		s, err := NewSync(cfg, MemoryReplica{r}, uint64(i+1))
		require.NoError(t, err)
		net.syncs[id] = s
	}
	for _, id := range net.ids {
		net.reps[id].SetPeers(net.ids)
		net.syncs[id].SetPeers(net.ids)
	}
	return net
}

func (n *memNet) put(id crdt.ReplicaID, key string, v int) {
	_, err := n.reps[id].Put(crdt.Key(key), []byte(fmt.Sprintf(`{"kind":"T","metadata":{"name":"x"},"v":%d}`, v)), crdt.PutOptions{})
	require.NoError(n.t, err)
	n.syncs[id].Notify(n.clock.now)
}

// step advances the clock by d, ticks every core and delivers every
// message (and the replies they cause) until the queue is empty.
func (n *memNet) step(d time.Duration) {
	n.clock.now = n.clock.now.Add(d)
	for _, id := range n.ids {
		out, err := n.syncs[id].Tick(n.clock.now)
		require.NoError(n.t, err)
		n.enqueue(id, out)
	}
	for len(n.queue) > 0 {
		e := n.queue[0]
		n.queue = n.queue[1:]
		out, err := n.syncs[e.To].Receive(n.clock.now, e.Msg)
		require.NoError(n.t, err)
		n.enqueue(e.To, out)
	}
}

func (n *memNet) enqueue(from crdt.ReplicaID, out []Envelope) {
	for _, e := range out {
		n.sent++
		if n.onSend != nil {
			n.onSend(from, e)
		}
		if n.cut != nil && n.cut(from, e.To) {
			continue
		}
		n.queue = append(n.queue, e)
	}
}

func (n *memNet) converged() bool {
	first := n.reps[n.ids[0]]
	for _, id := range n.ids[1:] {
		r := n.reps[id]
		if !slices.Equal(first.Keys(), r.Keys()) {
			return false
		}
		for _, k := range first.Keys() {
			a, _, _ := first.Get(k)
			b, _, _ := r.Get(k)
			if string(a.JSON()) != string(b.JSON()) {
				return false
			}
		}
	}
	return true
}

func (n *memNet) runUntilConverged(max int, d time.Duration) int {
	for i := range max {
		n.step(d)
		if n.converged() {
			return i + 1
		}
	}
	n.t.Fatalf("not converged after %d steps", max)
	return 0
}

func TestSyncConvergesOverLossyNetwork(t *testing.T) {
	cfg := DefaultSyncConfig()
	for _, loss := range []float64{0, 0.2, 0.5} {
		t.Run(fmt.Sprintf("loss=%.0f%%", loss*100), func(t *testing.T) {
			net := newMemNet(t, 12, cfg)
			rng := rand.New(rand.NewPCG(3, 4))
			net.cut = func(_, _ crdt.ReplicaID) bool { return rng.Float64() < loss }
			for i := range 200 {
				net.put(net.ids[rng.IntN(len(net.ids))], fmt.Sprintf("g/T/ns/k%d", rng.IntN(40)), i)
				if i%10 == 0 {
					net.step(10 * time.Millisecond)
				}
			}
			net.runUntilConverged(2000, cfg.Interval)
		})
	}
}

func TestSyncHealsPartitionByRepair(t *testing.T) {
	cfg := DefaultSyncConfig()
	net := newMemNet(t, 6, cfg)
	side := func(id crdt.ReplicaID) int { return slices.Index(net.ids, id) / 3 }
	net.cut = func(from, to crdt.ReplicaID) bool { return side(from) != side(to) }
	for i := range 60 {
		net.put(net.ids[i%6], fmt.Sprintf("g/T/ns/k%d", i%20), i)
		net.step(cfg.Interval)
	}
	require.False(t, net.converged())
	// The partition outlasts the buffer: each side stops buffering for the
	// other (the failure detector removed it), so healing needs repair.
	for _, id := range net.ids {
		var same []crdt.ReplicaID
		for _, p := range net.ids {
			if side(p) == side(id) {
				same = append(same, p)
			}
		}
		net.reps[id].SetPeers(same)
		net.syncs[id].SetPeers(same)
	}
	for range 20 {
		net.step(cfg.Interval)
	}
	net.cut = nil
	for _, id := range net.ids {
		net.reps[id].SetPeers(net.ids)
		net.syncs[id].SetPeers(net.ids)
	}
	steps := net.runUntilConverged(2000, cfg.Interval)
	var repairs uint64
	for _, s := range net.syncs {
		repairs += s.Stats().RepairsStarted
	}
	require.Positive(t, repairs)
	t.Logf("healed in %d rounds, %d repairs", steps, repairs)
}

// A peer that never acknowledges gets at most one delta in flight per
// AckTimeout, however much is written.
func TestSyncBackpressureOnSilentPeer(t *testing.T) {
	cfg := DefaultSyncConfig()
	cfg.RepairInterval = time.Hour
	net := newMemNet(t, 2, cfg)
	a, b := net.ids[0], net.ids[1]
	toB := 0
	net.cut = func(_, to crdt.ReplicaID) bool {
		if to == b {
			toB++
		}
		return to == b
	}
	for i := range 100 {
		net.put(a, fmt.Sprintf("g/T/ns/k%d", i), i)
		net.step(cfg.Interval)
	}
	// 100 rounds of 50 ms = 5 s, AckTimeout 2 s: at most 3 sends.
	require.LessOrEqual(t, toB, 3)
	require.GreaterOrEqual(t, toB, 2)
	net.cut = nil
	net.runUntilConverged(200, cfg.Interval)
}

func TestSyncIsDeterministic(t *testing.T) {
	run := func() (int, int) {
		net := newMemNet(t, 8, DefaultSyncConfig())
		for i := range 50 {
			net.put(net.ids[i%8], fmt.Sprintf("g/T/ns/k%d", i%13), i)
		}
		steps := net.runUntilConverged(500, 50*time.Millisecond)
		return steps, net.sent
	}
	s1, m1 := run()
	s2, m2 := run()
	require.Equal(t, s1, s2)
	require.Equal(t, m1, m2)
}

func TestSyncConfigValidate(t *testing.T) {
	for _, mut := range []func(*SyncConfig){
		func(c *SyncConfig) { c.Fanout = 0 },
		func(c *SyncConfig) { c.Interval = 0 },
		func(c *SyncConfig) { c.RepairInterval = -1 },
		func(c *SyncConfig) { c.AckTimeout = 0 },
		func(c *SyncConfig) { c.RepairTimeout = 0 },
		func(c *SyncConfig) { c.FullMesh = -1 },
	} {
		c := DefaultSyncConfig()
		mut(&c)
		require.Error(t, c.Validate())
		_, err := NewSync(c, nil, 1)
		require.Error(t, err)
	}
	require.NoError(t, DefaultSyncConfig().Validate())
}

// countingReplica counts DeltaFor calls.
type countingReplica struct {
	MemoryReplica
	deltaFor int
}

func (c *countingReplica) DeltaFor(p crdt.ReplicaID) (*crdt.DeltaMsg, error) {
	c.deltaFor++
	return c.MemoryReplica.DeltaFor(p)
}

// An idle member's rounds cost no DeltaFor calls until its replica or its
// peers change; then it pushes again, and converges as before.
func TestSyncSkipsIdleRounds(t *testing.T) {
	cfg := DefaultSyncConfig()
	cfg.RepairInterval = time.Hour // isolate gossip rounds
	net := newMemNet(t, 4, cfg)
	id := net.ids[0]
	cr := &countingReplica{MemoryReplica: MemoryReplica{net.reps[id]}}
	s, err := NewSync(cfg, cr, 99)
	require.NoError(t, err)
	s.SetPeers(net.ids)
	net.syncs[id] = s

	net.put(id, "a/T/ns/x", 1)
	net.runUntilConverged(50, cfg.Interval)
	for range 5 { // acks arrive; a round finds everyone up to date
		net.step(cfg.Interval)
	}
	before := cr.deltaFor
	for range 100 {
		net.step(cfg.Interval)
	}
	require.Equal(t, before, cr.deltaFor, "idle rounds call DeltaFor")
	// An idle Sync asks to be woken only for its next repair, not every
	// Interval.
	require.Equal(t, s.nextRepair, s.NextTick(), "idle Sync still asks for rounds")
	require.Greater(t, s.NextTick().Sub(net.clock.now), cfg.Interval)

	// A write ends the idle stretch; a remote write arriving does too.
	net.put(id, "a/T/ns/y", 2)
	require.False(t, s.NextTick().After(net.clock.now), "Notify must make a round due at once")
	net.runUntilConverged(50, cfg.Interval)
	require.Greater(t, cr.deltaFor, before)
	net.put(net.ids[2], "a/T/ns/z", 3)
	net.runUntilConverged(50, cfg.Interval)
	// A peer set change ends it as well.
	for range 5 {
		net.step(cfg.Interval)
	}
	before = cr.deltaFor
	s.SetPeers(net.ids[:3])
	net.step(cfg.Interval)
	require.Greater(t, cr.deltaFor, before)
}

// Digest repairs between members that are in sync change nothing, so they
// neither wake an idle member's gossip rounds (on either side of the
// repair) nor make it ask for ticks every Interval.
func TestSyncStaysIdleThroughInSyncRepairs(t *testing.T) {
	cfg := DefaultSyncConfig()
	cfg.RepairInterval = 200 * time.Millisecond
	net := newMemNet(t, 4, cfg)
	counting := map[crdt.ReplicaID]*countingReplica{}
	for i, id := range net.ids {
		cr := &countingReplica{MemoryReplica: MemoryReplica{net.reps[id]}}
		s, err := NewSync(cfg, cr, uint64(100+i))
		require.NoError(t, err)
		s.SetPeers(net.ids)
		net.syncs[id] = s
		counting[id] = cr
	}
	net.put(net.ids[0], "a/T/ns/x", 1)
	net.runUntilConverged(50, cfg.Interval)
	for range 10 {
		net.step(cfg.Interval)
	}
	before := map[crdt.ReplicaID]int{}
	var repairs uint64
	for _, id := range net.ids {
		before[id] = counting[id].deltaFor
		repairs += net.syncs[id].Stats().RepairsDone
	}
	for range 100 { // 5 s: about 25 repairs per member
		net.step(cfg.Interval)
	}
	var after uint64
	for _, id := range net.ids {
		require.Equal(t, before[id], counting[id].deltaFor, "%s: an in-sync repair woke the gossip rounds", id)
		after += net.syncs[id].Stats().RepairsDone
		require.Equal(t, net.syncs[id].nextRepair, net.syncs[id].NextTick(), "%s is not idle", id)
	}
	require.Greater(t, after-repairs, uint64(50), "repairs ran")

	// A write still spreads at once.
	net.put(net.ids[2], "a/T/ns/y", 2)
	net.runUntilConverged(50, cfg.Interval)
}

// A change the driver learns of from the store after Receive applied it
// (gossip.Node's store watch) does not run a second round: the round
// Receive caused has pushed it already. A local write, which no round has
// seen, does run one at once.
func TestSyncChangedSkipsWhatARoundSaw(t *testing.T) {
	cfg := DefaultSyncConfig()
	cfg.RepairInterval = time.Hour // isolate gossip rounds
	net := newMemNet(t, 3, cfg)
	a, b := net.ids[0], net.ids[1]
	sa, sb := net.syncs[a], net.syncs[b]
	now := net.clock.now
	for _, s := range []*Sync{sa, sb} {
		_, err := s.Tick(now) // start both cores
		require.NoError(t, err)
	}
	net.put(a, "a/T/ns/x", 1)
	out, err := sa.Tick(now)
	require.NoError(t, err)
	var delta crdt.Message
	for _, e := range out {
		if e.To == b {
			delta = e.Msg
		}
	}
	require.NotNil(t, delta, "a pushes its write to b")

	_, err = sb.Receive(now, delta)
	require.NoError(t, err)
	require.False(t, sb.NextTick().After(now), "a new delta makes a round due at once")
	_, err = sb.Tick(now) // b passes the write on
	require.NoError(t, err)
	due := sb.NextTick()
	require.True(t, due.After(now))
	sb.Changed(now) // the store watch reports the change Receive made
	require.Equal(t, due, sb.NextTick(), "the change a round already saw ran another round")

	_, err = net.reps[b].Put("a/T/ns/y", []byte(`{"kind":"T","metadata":{"name":"y"},"v":2}`), crdt.PutOptions{})
	require.NoError(t, err)
	sb.Changed(now)
	require.False(t, sb.NextTick().After(now), "a local write must make a round due at once")
}

// Beyond FullMesh peers a round pushes only to the overlay neighbours,
// while repairs still pick among all live peers; a write still reaches
// everyone, for a fraction of the full mesh's messages.
func TestSyncPushesOverTheOverlayBeyondFullMesh(t *testing.T) {
	const n = 60
	run := func(fullMesh int) (deltas, repairsBeyond int) {
		cfg := DefaultSyncConfig()
		cfg.FullMesh = fullMesh
		cfg.RepairInterval = 200 * time.Millisecond
		net := newMemNet(t, n, cfg)
		net.onSend = func(from crdt.ReplicaID, e Envelope) {
			targets := net.syncs[from].Targets()
			switch e.Msg.(type) {
			case *crdt.DeltaMsg:
				deltas++
				require.Contains(t, targets, e.To, "%s pushed to %s, not a target", from, e.To)
			case *crdt.DigestMsg:
				if !slices.Contains(targets, e.To) {
					repairsBeyond++
				}
			}
		}
		for _, id := range net.ids {
			require.Len(t, net.syncs[id].Peers(), n-1)
			if fullMesh >= n-1 {
				require.Equal(t, net.syncs[id].Peers(), net.syncs[id].Targets())
			} else {
				require.Less(t, len(net.syncs[id].Targets()), n-1)
			}
		}
		net.put(net.ids[0], "a/T/ns/x", 1)
		net.runUntilConverged(100, cfg.Interval)
		for range 100 { // acknowledgements settle; repairs run
			net.step(cfg.Interval)
		}
		return deltas, repairsBeyond
	}
	meshDeltas, _ := run(n)
	overlayDeltas, repairsBeyond := run(8)
	t.Logf("one write among %d members: %d deltas full mesh, %d over the overlay; %d repairs beyond the overlay",
		n, meshDeltas, overlayDeltas, repairsBeyond)
	require.Less(t, overlayDeltas*2, meshDeltas, "the overlay should send well under half the full mesh's deltas")
	require.Positive(t, repairsBeyond, "repairs should pick among all live peers, not only targets")
}

// Periodic repairs visit the live peers in turn (a random order each
// cycle), so a member hears every peer's report within one cycle: what
// tombstone collection waits for beyond the push overlay.
func TestSyncRepairsEveryPeerInTurn(t *testing.T) {
	const n = 10
	cfg := DefaultSyncConfig()
	cfg.RepairInterval = 100 * time.Millisecond
	net := newMemNet(t, n, cfg)
	var to []crdt.ReplicaID
	net.onSend = func(from crdt.ReplicaID, e Envelope) {
		if _, ok := e.Msg.(*crdt.DigestMsg); ok && from == net.ids[0] {
			to = append(to, e.To)
		}
	}
	for range 3*(n-1)*2 + 2 {
		net.step(cfg.RepairInterval / 2)
	}
	require.GreaterOrEqual(t, len(to), 3*(n-1))
	peers := slices.Clone(net.ids[1:])
	var orders [][]crdt.ReplicaID
	for c := range 3 {
		cycle := slices.Clone(to[c*(n-1) : (c+1)*(n-1)])
		orders = append(orders, slices.Clone(cycle))
		slices.Sort(cycle)
		require.Equal(t, peers, cycle, "cycle %d should repair every peer once", c)
	}
	require.False(t, slices.Equal(orders[0], orders[1]) && slices.Equal(orders[1], orders[2]), "the order should be reshuffled each cycle")
}

// A change of the live peers keeps the repair cycle: peers not visited
// yet keep their turn, new peers come after them, the visited ones last,
// so churn cannot keep pushing a peer's turn back.
func TestSyncRepairCycleSurvivesPeerChanges(t *testing.T) {
	net := newMemNet(t, 10, DefaultSyncConfig())
	self := net.ids[0]
	s := net.syncs[self]
	next := func(k int) []crdt.ReplicaID {
		var out []crdt.ReplicaID
		for range k {
			p, ok := s.nextRepairPeer()
			require.True(t, ok)
			out = append(out, p)
		}
		return out
	}
	visited := next(4)
	var unvisited []crdt.ReplicaID
	for _, p := range net.ids[1:] {
		if !slices.Contains(visited, p) {
			unvisited = append(unvisited, p)
		}
	}
	// One visited and one unvisited peer leave; a new one joins.
	joiner := crdt.ReplicaID("r99")
	live := []crdt.ReplicaID{self, joiner}
	for _, p := range net.ids[1:] {
		if p != visited[0] && p != unvisited[0] {
			live = append(live, p)
		}
	}
	s.SetPeers(live)
	got := next(len(unvisited) - 1)
	slices.Sort(got)
	want := slices.Clone(unvisited[1:])
	slices.Sort(want)
	require.Equal(t, want, got, "the peers not yet visited should keep their turn")
	require.Equal(t, []crdt.ReplicaID{joiner}, next(1), "then the new peer")
	require.ElementsMatch(t, visited[1:], next(len(visited)-1), "then the visited ones still live")
}
