package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
)

func scenario(t *testing.T, name string, members int, d time.Duration) *Scenario {
	t.Helper()
	sc, err := LoadScenario(name)
	require.NoError(t, err)
	require.NoError(t, sc.Apply(Overrides{Members: members, Duration: d}))
	return sc
}

// runTo runs sc and writes its outputs to a fresh directory.
func runTo(t *testing.T, sc *Scenario) string {
	t.Helper()
	res, err := Run(context.Background(), sc, RunOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, WriteOutputs(dir, res.Summary, res.Series, res.Latencies))
	return dir
}

// deterministicSummary is summary.json without the host-measured fields.
func deterministicSummary(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range HostFields() {
		require.Contains(t, m, k)
		delete(m, k)
	}
	return m
}

func TestDeterminism(t *testing.T) {
	sc := scenario(t, "churn", 70, 30*time.Second)
	sc.Events[0].At = 5 * time.Second
	sc.Events[0].Churn.Over = 20 * time.Second
	a := runTo(t, sc)
	b := runTo(t, sc)
	for _, f := range []string{"timeseries.csv", "convergence.csv", "convergence_cdf.svg", "bandwidth.svg", "ready_replicas.svg"} {
		x, err := os.ReadFile(filepath.Join(a, f))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, f))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(x, y), "%s differs between runs with the same seed", f)
	}
	sa := deterministicSummary(t, a)
	assert.Equal(t, sa, deterministicSummary(t, b))
	assert.Greater(t, sa["converged_writes"], float64(10), "the run must have done something")

	sc2 := *sc
	sc2.Seed = sc.Seed + 1
	c := runTo(t, &sc2)
	x, _ := os.ReadFile(filepath.Join(a, "timeseries.csv"))
	y, _ := os.ReadFile(filepath.Join(c, "timeseries.csv"))
	assert.False(t, bytes.Equal(x, y), "a different seed must give a different run")
	assert.NotEqual(t, sa, deterministicSummary(t, c))
}

func TestRunStopsWhenCancelled(t *testing.T) {
	sc := scenario(t, "steady", 10, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, sc, RunOptions{})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "stopped at 1s")
}

// The federation model (Reconcile, Embedded clusters, reports) and the
// SWIM model under crashes are deterministic too.
func TestDeterminismWithFederationAndFailures(t *testing.T) {
	sc := scenario(t, "member-failure", 10, 40*time.Second)
	sc.Events[0].At = 20 * time.Second
	a, b := runTo(t, sc), runTo(t, sc)
	x, err := os.ReadFile(filepath.Join(a, "timeseries.csv"))
	require.NoError(t, err)
	y, err := os.ReadFile(filepath.Join(b, "timeseries.csv"))
	require.NoError(t, err)
	assert.Equal(t, string(x), string(y))
	sa := deterministicSummary(t, a)
	assert.Equal(t, sa, deterministicSummary(t, b))
	assert.Equal(t, float64(3), sa["deaths_detected"])
	assert.Positive(t, sa["replicas_below_desired_seconds"])
}

// putAt writes obj at member i as a client would, through its replica.
func (w *World) putAt(t *testing.T, i int, key crdt.Key, obj string) {
	t.Helper()
	require.NoError(t, w.localWrite(w.members[i], key, []byte(obj)))
}

func hasValue(w *World, i int, key crdt.Key, want string) bool {
	doc, _, ok := w.Replica(i).Get(key)
	return ok && doc.Exists() && strings.Contains(string(doc.JSON()), want)
}

// The simulator's members are real crdt.Replicas: writes land in their
// documents and anti-entropy (the real gossip.Sync) carries them to every
// member's replica.
func TestWritesLandInRealReplicas(t *testing.T) {
	sc := scenario(t, "steady", 25, 20*time.Second)
	sc.Workload.WritesPerSecond = 2
	sc.Workload.Stop = 9 * time.Second // quiet at the end: digests comparable
	w, err := NewWorld(sc)
	require.NoError(t, err)
	w.RunUntil(10 * time.Second)
	key, err := crdt.MakeKey("test.lattice.dev", "Thing", "ns", "probe")
	require.NoError(t, err)
	w.putAt(t, 3, key, `{"kind":"Thing","metadata":{"name":"probe"},"spec":{"v":"hello-sim"}}`)
	w.RunUntil(12 * time.Second)
	for i := range w.Members() {
		assert.True(t, hasValue(w, i, key, "hello-sim"), "member %d lacks the write", i)
	}
	d0 := w.Replica(0).Digest(0)
	for i := 1; i < w.Members(); i++ {
		assert.Equal(t, d0, w.Replica(i).Digest(0), "member %d diverges", i)
	}
	s := w.Summary()
	assert.Positive(t, s.ConvergedWrites)
	assert.Zero(t, s.UnconvergedWrites)
	assert.Positive(t, s.BytesPerMemberPerSecond)
	assert.Zero(t, s.ProtocolErrors)
}

func TestPartitionAndHeal(t *testing.T) {
	sc, err := ParseScenario([]byte(`
name: ph
members: 20
duration: 60s
topology: {process_delay: 1ms}
workload: {writes_per_second: 2, start: 1s}
sample_interval: 100ms
events:
  - {at: 5s, partition: {fraction: 0.5}}
  - {at: 30s, heal: true}
`))
	require.NoError(t, err)
	w, err := NewWorld(sc)
	require.NoError(t, err)
	w.RunUntil(20 * time.Second)
	// Members 0-9 are side 1, 10-19 side 0. A write on one side reaches
	// its side and not the other.
	key, err := crdt.MakeKey("test.lattice.dev", "Thing", "ns", "cut")
	require.NoError(t, err)
	w.putAt(t, 2, key, `{"kind":"Thing","metadata":{"name":"cut"},"spec":{"v":"left-side"}}`)
	w.RunUntil(29 * time.Second)
	for i := range 20 {
		assert.Equal(t, i < 10, hasValue(w, i, key, "left-side"), "member %d", i)
	}
	// By now each side has declared the other dead (SWIM model).
	assert.GreaterOrEqual(t, w.Summary().AliveMembersDeclaredDead, 20)
	w.RunUntil(60 * time.Second)
	for i := range 20 {
		assert.True(t, hasValue(w, i, key, "left-side"), "member %d after heal", i)
	}
	s := w.Summary()
	require.NotNil(t, s.HealConvergenceSeconds, "replicas must agree after the heal")
	assert.Less(t, *s.HealConvergenceSeconds, 20.0)
	assert.Equal(t, 20, s.LiveMembersAtEnd)
}

// member-failure: the real federation.Reconcile/Schedule re-place a crashed
// member's share once SWIM declares it dead.
func TestMemberFailureReplaces(t *testing.T) {
	sc, err := ParseScenario([]byte(`
name: mf
members: 8
duration: 60s
topology: {process_delay: 1ms}
workload: {writes_per_second: 1, start: 1s}
deployment: {at: 2s, replicas: 8, pod_start_delay: 2s, controller_interval: 1s}
sample_interval: 250ms
events:
  - {at: 25s, crash: {members: [0, 1]}}
`))
	require.NoError(t, err)
	w, err := NewWorld(sc)
	require.NoError(t, err)
	w.RunUntil(24 * time.Second)
	before := w.Summary()
	assert.Equal(t, int32(8), before.ReadyReplicasAtEnd, "all replicas ready before the crash")
	rampUp := before.ReplicasBelowDesiredSeconds
	w.RunUntil(60 * time.Second)
	s := w.Summary()
	assert.Equal(t, 2, s.DeathsDetected)
	// LAN: suspicion 4 s minimum (n < 10), at most 8 s, plus the probe that
	// finds it and dissemination.
	assert.GreaterOrEqual(t, s.DetectionP50Seconds, 4.0)
	assert.LessOrEqual(t, s.DetectionMaxSeconds, 12.0)
	assert.Equal(t, int32(8), s.ReadyReplicasAtEnd, "the crashed members' share is re-placed")
	outage := s.ReplicasBelowDesiredSeconds - rampUp
	assert.Greater(t, outage, 4.0, "replicas are down at least until detection")
	assert.Less(t, outage, s.DetectionMaxSeconds+2*1+2+2, "re-placed within detection + controller pass + pod start")

	// The placement every alive member computed is federation.Schedule on
	// the replicated state: rebuild the inputs from one member's real
	// replica and compare with the reports each member published.
	v := federation.View{}
	for i := range w.Members() {
		if w.Alive(i) {
			v.Live = append(v.Live, w.members[i].name)
		}
	}
	var fd *federation.FederatedDeployment
	assigned := map[string]int32{}
	rep := w.Replica(5)
	for _, k := range rep.Keys() {
		doc, rv, _ := rep.Get(k)
		if !doc.Exists() {
			continue
		}
		o := crdt.Object{Key: k, ResourceVersion: rv, Generation: doc.Generation(), Value: doc.JSON()}
		switch {
		case strings.HasPrefix(string(k), federation.DeploymentPrefix):
			fd, err = federation.DecodeDeployment(o)
			require.NoError(t, err)
		case strings.HasPrefix(string(k), federation.MemberPrefix):
			m, err := federation.DecodeMember(o)
			require.NoError(t, err)
			v.Members = append(v.Members, m)
		case strings.HasPrefix(string(k), federation.PlacementPrefix):
			r, err := federation.DecodePlacement(o)
			require.NoError(t, err)
			v.Reports = append(v.Reports, r)
			assigned[r.Member] = r.Assigned
		}
	}
	require.NotNil(t, fd)
	a := federation.Schedule(fd, v.Candidates(fd))
	assert.Equal(t, int32(8), a.Total())
	for _, sh := range a.Shares {
		assert.Equal(t, sh.Replicas, assigned[sh.Member], "member %s", sh.Member)
	}
	assert.Zero(t, a.For("member-1"), "a dead member gets nothing")
}

// Decoding messages on other goroutines ahead of their delivery is an
// optimisation only: with none, one or several workers the outputs are
// byte-identical (run under -race, it also checks the workers share
// nothing unsynchronised with the simulation).
func TestDecodeWorkersDoNotChangeOutputs(t *testing.T) {
	sc := scenario(t, "churn", 40, 15*time.Second)
	sc.Events[0].At = 3 * time.Second
	sc.Events[0].Churn.Over = 10 * time.Second
	var dirs []string
	for _, workers := range []int{-1, 1, 3} {
		res, err := Run(context.Background(), sc, RunOptions{DecodeWorkers: workers})
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, WriteOutputs(dir, res.Summary, res.Series, res.Latencies))
		dirs = append(dirs, dir)
	}
	want := deterministicSummary(t, dirs[0])
	assert.Greater(t, want["converged_writes"], float64(5), "the run must have done something")
	for _, dir := range dirs[1:] {
		assert.Equal(t, want, deterministicSummary(t, dir))
		for _, f := range []string{"timeseries.csv", "convergence.csv"} {
			x, err := os.ReadFile(filepath.Join(dirs[0], f))
			require.NoError(t, err)
			y, err := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(x, y), "%s differs with decode workers", f)
		}
	}
}
