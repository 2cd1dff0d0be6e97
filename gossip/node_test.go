package gossip

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// Ten members on loopback with real QUIC converge after random writes on
// random members.
func TestTenMembersConverge(t *testing.T) {
	c := startCluster(t, 10)
	c.waitMembers(10, slowdown*20*time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		putRandom(t, rng, c.st[rng.IntN(len(c.st))], i)
	}
	require.Eventually(t, func() bool { return converged(t, c.st) }, slowdown*30*time.Second, 100*time.Millisecond)
	snap := snapshot(t, c.st[0])
	require.Greater(t, len(snap), 40, "the writes and the 10 peer records")
}

// transitRecorder keeps every TransitObserver call.
type transitRecorder struct {
	mu      sync.Mutex
	sent    map[string][]time.Time // to + frame → hand-off times
	arrived int
	matched int
	bad     []string
}

func (r *transitRecorder) Sent(to crdt.ReplicaID, frame []byte, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.IsZero() {
		r.bad = append(r.bad, "a frame sent without its hand-off time")
	}
	r.sent[string(to)+"\x00"+string(frame)] = append(r.sent[string(to)+"\x00"+string(frame)], at)
}

func (r *transitRecorder) Arrived(to crdt.ReplicaID, frame []byte, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrived++
	if _, err := DecodeFrame(frame, crdt.DefaultLimits()); err != nil {
		r.bad = append(r.bad, "an arrived frame does not decode: "+err.Error())
	}
	times := r.sent[string(to)+"\x00"+string(frame)]
	if len(times) == 0 {
		r.bad = append(r.bad, "a frame arrived that no member sent to "+string(to))
		return
	}
	if at.Before(times[0]) {
		r.bad = append(r.bad, "a frame arrived before its sender handed it off")
	}
	r.matched++
}

// The transit observer sees every anti-entropy frame leave its sender's
// loop and reach its receiver's inbox, byte for byte, in that order.
func TestTransitObserverSeesBothEnds(t *testing.T) {
	rec := &transitRecorder{sent: map[string][]time.Time{}}
	c := startClusterWith(t, 3, func(cfg *Config) { cfg.Transit = rec })
	c.waitMembers(3, slowdown*20*time.Second)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 20 {
		putRandom(t, rng, c.st[rng.IntN(len(c.st))], i)
	}
	require.Eventually(t, func() bool { return converged(t, c.st) }, slowdown*30*time.Second, 100*time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Empty(t, rec.bad)
	require.Greater(t, rec.arrived, 20, "the writes' deltas and acknowledgements")
	require.Equal(t, rec.arrived, rec.matched)
}

// Membership traffic counts memberlist's streams (push-pull state
// exchanges) as well as its packets: with probes and gossip off, a join's
// push-pull is all there is, and each byte is counted out at one end and
// in at the other.
func TestMembershipStreamsAreCounted(t *testing.T) {
	c := startClusterWith(t, 2, func(cfg *Config) {
		mc := memberlist.DefaultLANConfig()
		mc.ProbeInterval, mc.GossipInterval, mc.PushPullInterval = time.Hour, time.Hour, time.Hour
		cfg.Memberlist = mc
	})
	c.waitMembers(2, slowdown*20*time.Second)
	bytes := func(n *Node, dir string) float64 {
		return testutil.ToFloat64(n.metrics.Bytes.WithLabelValues(dir, ALPNMembership))
	}
	require.Eventually(t, func() bool {
		return bytes(c.nodes[0], "out") > 0 && bytes(c.nodes[0], "out") == bytes(c.nodes[1], "in") &&
			bytes(c.nodes[1], "out") == bytes(c.nodes[0], "in")
	}, slowdown*10*time.Second, 20*time.Millisecond)
	// Both sent a state naming at least one member by its DID.
	require.Greater(t, bytes(c.nodes[0], "out"), 100.0)
	require.Greater(t, bytes(c.nodes[1], "out"), 100.0)
}

// deltaRecorder records, once armed, who each anti-entropy delta frame
// went to from whom.
type deltaRecorder struct {
	mu    sync.Mutex
	armed bool
	sent  map[[2]crdt.ReplicaID]int // from, to → deltas
	bad   []string
}

func (r *deltaRecorder) Sent(to crdt.ReplicaID, frame []byte, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.armed {
		return
	}
	m, err := DecodeFrame(frame, crdt.DefaultLimits())
	if err != nil {
		r.bad = append(r.bad, err.Error())
		return
	}
	if d, ok := m.(*crdt.DeltaMsg); ok {
		r.sent[[2]crdt.ReplicaID{d.From, to}]++
	}
}

func (r *deltaRecorder) Arrived(crdt.ReplicaID, []byte, time.Time) {}

// Real members beyond FullMesh push only to their overlay neighbours (the
// same on every member, computed alone), and still converge: here twelve
// QUIC members with FullMesh 3.
func TestMembersBeyondFullMeshPushOverTheOverlay(t *testing.T) {
	const n, fullMesh = 12, 3
	rec := &deltaRecorder{sent: map[[2]crdt.ReplicaID]int{}}
	c := startClusterWith(t, n, func(cfg *Config) {
		cfg.Transit = rec
		cfg.Sync.FullMesh = fullMesh
		// Tolerant failure detection: a member wrongly suspected under
		// the race detector's load changes the overlay for a while.
		cfg.Memberlist.ProbeInterval = time.Second
		cfg.Memberlist.ProbeTimeout = time.Second
		cfg.Memberlist.SuspicionMult = 6
	})
	c.waitMembers(n, slowdown*20*time.Second)
	var ids []crdt.ReplicaID
	for _, node := range c.nodes {
		ids = append(ids, node.ID())
	}
	ring := NewRing(ids)
	want := map[crdt.ReplicaID][]crdt.ReplicaID{}
	links := 0
	for _, id := range ids {
		want[id] = ring.Neighbours(id, fullMesh)
		links += len(want[id])
	}
	require.Less(t, links, n*(n-1)*3/4, "the overlay should leave a good part of the mesh out")
	require.Eventually(t, func() bool {
		for _, node := range c.nodes {
			if !slices.Equal(node.PushPeers(), want[node.ID()]) {
				return false
			}
			if testutil.ToFloat64(node.Metrics().PushPeers) != float64(len(want[node.ID()])) {
				return false
			}
		}
		return true
	}, slowdown*10*time.Second, 20*time.Millisecond, "every member's push peers should be its overlay neighbours")
	rec.mu.Lock()
	rec.armed = true
	rec.mu.Unlock()
	// A member whose view changes meanwhile (a false suspicion) rightly
	// pushes over another overlay: watch for it.
	var unstableMu sync.Mutex
	unstable := map[crdt.ReplicaID]bool{}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			for _, node := range c.nodes {
				if !slices.Equal(node.PushPeers(), want[node.ID()]) {
					unstableMu.Lock()
					unstable[node.ID()] = true
					unstableMu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 100 {
		putRandom(t, rng, c.st[rng.IntN(n)], i)
	}
	require.Eventually(t, func() bool { return converged(t, c.st) }, slowdown*30*time.Second, 100*time.Millisecond)
	close(stop)
	<-watched
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Empty(t, rec.bad)
	require.LessOrEqual(t, len(unstable), n/4, "too many members' views changed during the test: %v", unstable)
	total := 0
	for pair, count := range rec.sent {
		if unstable[pair[0]] {
			continue
		}
		require.Contains(t, want[pair[0]], pair[1], "%s pushed %d deltas to %s, outside its overlay %v",
			pair[0], count, pair[1], want[pair[0]])
		total += count
	}
	require.Positive(t, total)
	t.Logf("%d deltas over overlay links checked (%d members' views changed meanwhile)", total, len(unstable))
}

// Members collect a deleted object's tombstone once every live member has
// seen the delete, and say so in their metrics: the tombstones still held,
// the keys collected, and how long each run took. (The first member to
// collect it takes it from the others' too: a repair removes what a peer
// has seen and no longer holds. So only some count it as collected.)
func TestMembersCollectTombstonesAndReportIt(t *testing.T) {
	c := startClusterWith(t, 3, func(cfg *Config) { cfg.GCInterval = 200 * time.Millisecond })
	c.waitMembers(3, slowdown*20*time.Second)
	ctx := context.Background()
	key := crdt.Key("test.lattice.dev/Thing/default/doomed")
	_, err := c.st[0].Put(ctx, key, []byte(`{"apiVersion":"test.lattice.dev/v1","kind":"Thing","metadata":{"name":"doomed"}}`), crdt.PutOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, st := range c.st {
			if _, err := st.Get(key); err != nil {
				return false
			}
		}
		return true
	}, slowdown*10*time.Second, 20*time.Millisecond, "every member should hold the object before it is deleted")
	_, err = c.st[1].Delete(ctx, key, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		collected := 0.0
		for i, node := range c.nodes {
			m := node.Metrics()
			collected += testutil.ToFloat64(m.TombstonesCollected)
			if testutil.ToFloat64(m.Tombstones) != 0 {
				return false
			}
			held := true
			require.NoError(t, c.st[i].Inspect(ctx, func(r *crdt.Replica) { _, _, held = r.Get(key) }))
			if held {
				return false
			}
		}
		return collected >= 1
	}, slowdown*20*time.Second, 50*time.Millisecond, "the members should collect the tombstone")
	for _, node := range c.nodes {
		var runs dto.Metric
		require.NoError(t, node.Metrics().TombstoneCollection.Write(&runs))
		require.Positive(t, runs.GetHistogram().GetSampleCount(), "collection runs should be timed")
	}
}
