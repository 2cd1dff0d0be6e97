package sim

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// tombstoneRun is the tombstones scenario at n members: writes for the
// first third of d, then quiet so the last deletes can be collected.
func tombstoneRun(t *testing.T, n int, d time.Duration, mut func(*Scenario)) *World {
	t.Helper()
	sc := scenario(t, "tombstones", n, d)
	sc.Workload.Stop = d / 3
	if mut != nil {
		mut(sc)
	}
	w, err := NewWorld(sc)
	require.NoError(t, err)
	w.RunUntil(d)
	return w
}

// Members run the real CollectGarbage every GC interval: every delete's
// tombstone is gone from every member by the end, and the replicas agree.
func TestTombstonesAreCollected(t *testing.T) {
	w := tombstoneRun(t, 12, 6*time.Minute, nil)
	s := w.Summary()
	require.Greater(t, s.Deletes, 10, "the workload must delete")
	assert.Equal(t, s.Deletes, s.TombstonesCollected+s.TombstonesSuperseded, "every delete collected or superseded")
	assert.Zero(t, s.TombstonesPending)
	assert.Greater(t, s.TombstonesCollected, s.Deletes/2)
	assert.Zero(t, s.TombstonesPerMemberAtEnd, "no member holds a tombstone at the end")
	// Full mesh (12 < 32): every peer's report arrives with its acks, so
	// collection takes a couple of GC intervals (30 s), not a repair cycle.
	assert.Greater(t, s.TombstoneCollectionP50Seconds, 0.0)
	assert.Less(t, s.TombstoneCollectionMaxSeconds, 120.0)
	assert.Zero(t, s.UnconvergedWrites)
	assert.Zero(t, s.ProtocolErrors)
	assert.True(t, w.replicasAgree())
	for i := range w.Members() {
		assert.Zero(t, w.Replica(i).Tombstones(), "member %d", i)
	}
}

// Beyond the full mesh a member hears most peers' reports only through
// repairs, one peer every repair interval in turn, so a tombstone waits
// for about a repair cycle over the live members: collection time grows
// with the federation.
func TestTombstoneCollectionWaitsForTheRepairCycle(t *testing.T) {
	fast := func(sc *Scenario) {
		sc.Sync.RepairInterval = 500 * time.Millisecond
		sc.Sync.GCInterval = 2 * time.Second
		sc.Workload.WritesPerSecond = 2
	}
	small := tombstoneRun(t, 16, 3*time.Minute, fast).Summary()
	large := tombstoneRun(t, 96, 3*time.Minute, fast).Summary()
	for _, s := range []Summary{small, large} {
		require.Greater(t, s.TombstonesCollected, 20)
		assert.Zero(t, s.TombstonesPending)
		assert.Zero(t, s.ProtocolErrors)
	}
	// 96 members push over the overlay: a cycle of 96 repairs of 0.5 s.
	assert.Greater(t, large.TombstoneCollectionP50Seconds, 20.0)
	assert.Greater(t, large.TombstoneCollectionP50Seconds, 4*small.TombstoneCollectionP50Seconds)
}

// Tombstone collection under a partition: each side declares the other
// dead and collects without it; after the heal the replicas still agree,
// and an object deleted on one side while the other held it stays deleted
// everywhere.
func TestTombstonesCollectedThroughAPartition(t *testing.T) {
	sc, err := ParseScenario([]byte(`
name: gc-partition
members: 20
duration: 150s
topology: {process_delay: 1ms}
sync: {repair_interval: 500ms, gc_interval: 2s}
workload: {writes_per_second: 4, start: 1s, stop: 80s, keys: 50, deletes: 0.4}
sample_interval: 500ms
events:
  - {at: 10s, partition: {fraction: 0.5}}
  - {at: 50s, heal: true}
`))
	require.NoError(t, err)
	w, err := NewWorld(sc)
	require.NoError(t, err)
	key, err := crdt.MakeKey("test.lattice.dev", "Thing", "ns", "gone")
	require.NoError(t, err)
	w.RunUntil(5 * time.Second)
	w.putAt(t, 2, key, `{"kind":"Thing","metadata":{"name":"gone"},"spec":{"v":"x"}}`)
	w.RunUntil(30 * time.Second)
	// Members 0-9 are one side, 10-19 the other (TestPartitionAndHeal).
	_, err = w.members[2].rep.r.Delete(key, 0)
	require.NoError(t, err)
	w.RunUntil(48 * time.Second)
	for i := range 10 {
		_, _, held := w.Replica(i).Get(key)
		assert.False(t, held, "member %d: the tombstone is collected on its side before the heal", i)
		assert.True(t, hasValue(w, i+10, key, `"x"`), "member %d: the other side still holds the object", i+10)
	}
	w.RunUntil(150 * time.Second)
	s := w.Summary()
	require.Greater(t, s.Deletes, 20)
	assert.Greater(t, s.TombstonesCollected, 0)
	assert.Zero(t, s.TombstonesPending)
	assert.Zero(t, s.TombstonesPerMemberAtEnd)
	assert.Zero(t, s.UnconvergedWrites)
	assert.Zero(t, s.ProtocolErrors)
	assert.True(t, w.replicasAgree(), "replicas must agree after the heal")
	for i := range 20 {
		doc, _, held := w.Replica(i).Get(key)
		assert.False(t, held && doc.Exists(), "member %d: the deleted object came back", i)
	}
}

func TestTombstoneRunsAreDeterministic(t *testing.T) {
	sc := scenario(t, "tombstones", 12, 3*time.Minute)
	sc.Workload.Stop = time.Minute
	a, b := runTo(t, sc), runTo(t, sc)
	for _, f := range []string{"timeseries.csv", "tombstones.svg"} {
		x, err := os.ReadFile(filepath.Join(a, f))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, f))
		require.NoError(t, err)
		assert.Equal(t, string(x), string(y), f)
	}
	sa := deterministicSummary(t, a)
	assert.Equal(t, sa, deterministicSummary(t, b))
	assert.Positive(t, sa["tombstones_collected"])
}

// Without the full live set (beyond 256 members) collection would wait
// for overlay neighbours alone: such runs are refused, not run unsafely.
func TestDeletesNeedTheFullView(t *testing.T) {
	sc := scenario(t, "tombstones", fullViewLimit+1, time.Minute)
	_, err := NewWorld(sc)
	require.ErrorContains(t, err, "tombstone collection needs every member handed the full live set")
}
