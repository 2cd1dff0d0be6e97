package validate

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/sim"
)

// smallRealConfig is a quick real run for tests (skipped with -short).
func smallRealConfig(t *testing.T, members, writes int) RealConfig {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real members")
	}
	cfg := DefaultRealConfig(members)
	cfg.Writes = writes
	cfg.Settle = time.Second
	cfg.Dir = t.TempDir()
	return cfg
}

// The real side runs real members: QUIC on loopback, badger stores,
// memberlist; every measured write must reach all of them.
func TestRunRealMeasuresEveryWrite(t *testing.T) {
	cfg := smallRealConfig(t, 5, 15)
	res, err := RunReal(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, 5, res.Members)
	require.Len(t, res.Latencies, 15)
	require.IsNonDecreasing(t, res.Latencies)
	require.Greater(t, res.Latencies[0], 0.0)
	require.Less(t, res.Latencies[len(res.Latencies)-1], cfg.WriteTimeout.Seconds())
	require.Greater(t, res.BytesPerMemberPerSecond, 0.0, "QUIC traffic was counted")
	// Split by protocol: anti-entropy frames a few hundred bytes each
	// (IDs are 56-character DIDs), memberlist probing every second.
	require.Greater(t, res.MembershipBytesPerMemberPerSecond, 100.0, "memberlist's probes were counted")
	require.Less(t, res.MembershipBytesPerMemberPerSecond, res.BytesPerMemberPerSecond)
	require.Greater(t, res.AntiEntropyBytes/res.Messages, 100.0)
	require.Less(t, res.AntiEntropyBytes/res.Messages, 2000.0)
	require.Greater(t, res.Window[0], 0.0, "the writes start after the members")
	require.Greater(t, res.Window[1], res.Window[0])
	require.Greater(t, res.HandlingSeconds, 0.0, "the loops' handling histogram was read")
	require.Len(t, res.SchedLatency, DiskLoadQuantiles)
	require.True(t, slices.IsSorted(res.SchedLatency))
	require.Less(t, res.HandlingSeconds/res.Messages, cfg.WriteTimeout.Seconds())
	// Every handled message was a frame in transit, timed from its
	// sender's loop to its receiver's inbox.
	require.Len(t, res.Transit, DiskLoadQuantiles)
	require.True(t, slices.IsSorted(res.Transit))
	require.Greater(t, res.Transit[0], time.Duration(0))
	require.InEpsilon(t, res.Messages, float64(res.TransitFrames+res.TransitUnmatched), 0.1)
	require.Zero(t, res.StoresFlushed, "15 small writes fill no 16 MB memtable")
	// Every write is at least one synced commit at its writer and at each
	// other member.
	c := res.Commits
	require.GreaterOrEqual(t, float64(c.Batches)*c.SyncedFraction, float64(15*5))
	require.LessOrEqual(t, c.SyncedFraction, 1.0)
	require.Greater(t, c.SyncedP50Seconds, 0.0)
	require.GreaterOrEqual(t, c.SyncedP99Seconds, c.SyncedP50Seconds)
}

// Compare puts both sides in one row, with the differences computed from
// the two sides' own percentiles.
func TestCompareSideBySide(t *testing.T) {
	cfg := smallRealConfig(t, 4, 10)
	row, err := Compare(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, 4, row.Members)
	require.Equal(t, 10, row.Real.Writes)
	require.Greater(t, row.Calibration.SyncedWriteSeconds, 0.0, "the machine was measured")
	require.Greater(t, row.Calibration.CPUPerMessageSeconds, 0.0, "the real run's CPU per message was measured")
	require.Equal(t, 4, row.Calibration.JournalWriters, "the journal was probed at the run's member count")
	require.Greater(t, row.Calibration.JournalPerWriteSeconds, 0.0)
	require.LessOrEqual(t, row.Calibration.JournalPerWriteSeconds, row.Calibration.SyncedWriteSeconds)
	require.Equal(t, []int{1, 2, 4}, levelWriters(row.Calibration.DiskLoad), "the disk was measured up to the run's member count")
	require.Equal(t, 2, row.Calibration.DiskLoadPasses, "before and after the real run")
	sides := []Side{row.Real}
	require.NotEmpty(t, row.Calibration.RunDiskLoad, "the real run's commits were grouped by load")
	require.Len(t, row.Sims, 11, "three disk models, each with FIFO and shared cores; five with writes where changed")
	require.Len(t, row.Calibration.HandoffLatency, DiskLoadQuantiles, "the real run's scheduling latency was read")
	require.Len(t, row.Calibration.Transit, DiskLoadQuantiles, "the real run's frames were timed in transit")
	require.Positive(t, row.Calibration.TransitFrames)
	require.NotEmpty(t, row.Calibration.TransitLoad, "the frames were grouped by frames in transit")
	require.Len(t, row.Calibration.TransitLoadFrames, len(row.Calibration.TransitLoad))
	for i, s := range row.Sims {
		require.Equal(t, Models()[i], s.Model)
		require.Greater(t, s.Sim.Writes, 100, "the simulated side runs the whole validation scenario with the %s disk", s.Model)
		require.InDelta(t, (s.Sim.P50Seconds-row.Real.P50Seconds)/row.Real.P50Seconds, s.P50Diff, 1e-12)
		require.InDelta(t, (s.Sim.P99Seconds-row.Real.P99Seconds)/row.Real.P99Seconds, s.P99Diff, 1e-12)
		require.Equal(t, math.Abs(s.P50Diff) <= Tolerance && math.Abs(s.P99Diff) <= Tolerance, s.Within)
		sides = append(sides, s.Sim)
	}
	for _, s := range sides {
		require.Greater(t, s.MessagesPerWrite, 1.0, "every member receives a write at least once")
		require.Greater(t, s.HandlingPerMessage, 0.0)
		require.Less(t, s.HandlingPerMessage, s.MaxSeconds, "no message takes longer than a write's convergence")
		require.Less(t, s.MessagesPerWrite, 1000.0)
		require.Greater(t, s.P50Seconds, 0.0)
		require.GreaterOrEqual(t, s.P99Seconds, s.P50Seconds)
		require.GreaterOrEqual(t, s.MaxSeconds, s.P99Seconds)
	}
}

func levelWriters(levels []sim.DiskLoadLevel) []int {
	var ws []int
	for _, l := range levels {
		ws = append(ws, l.Writers)
	}
	return ws
}

func TestRealConfigRejectsBadInput(t *testing.T) {
	for name, mut := range map[string]func(*RealConfig){
		"one member":      func(c *RealConfig) { c.Members = 1 },
		"too many":        func(c *RealConfig) { c.Members = MaxMembers + 1 },
		"no writes":       func(c *RealConfig) { c.Writes = 0 },
		"negative gap":    func(c *RealConfig) { c.Gap = -time.Second },
		"no repair":       func(c *RealConfig) { c.RepairInterval = 0 },
		"no dir":          func(c *RealConfig) { c.Dir = "" },
		"no timeout":      func(c *RealConfig) { c.WriteTimeout = 0 },
		"negative settle": func(c *RealConfig) { c.Settle = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultRealConfig(3)
			cfg.Dir = t.TempDir()
			mut(&cfg)
			_, err := RunReal(context.Background(), cfg)
			require.Error(t, err)
		})
	}
}

// Calibration measures this machine: a positive synced-write time, a
// disk parallelism within the probe's range, the host's cores.
func TestCalibrate(t *testing.T) {
	if testing.Short() {
		t.Skip("writes to disk")
	}
	cal, err := Calibrate(context.Background(), t.TempDir(), 40, 3)
	require.NoError(t, err)
	require.Greater(t, cal.SyncedWriteSeconds, 0.0)
	require.Less(t, cal.SyncedWriteSeconds, 1.0)
	require.GreaterOrEqual(t, cal.SyncedWriteSigma, 0.0)
	require.LessOrEqual(t, cal.SyncedWriteSigma, 3.0)
	require.GreaterOrEqual(t, cal.DiskChannels, 1)
	require.LessOrEqual(t, cal.DiskChannels, DiskProbeWriters)
	require.Positive(t, cal.Cores)
	require.Equal(t, 40, cal.Samples)
	require.Equal(t, 3, cal.JournalWriters)
	require.Greater(t, cal.JournalPerWriteSeconds, 0.0)
	require.LessOrEqual(t, cal.JournalPerWriteSeconds, cal.SyncedWriteSeconds)
	require.Equal(t, []int{1, 2, 3}, levelWriters(cal.DiskLoad))
	require.Equal(t, 1, cal.DiskLoadPasses)
	for _, l := range cal.DiskLoad {
		require.Len(t, l.Quantiles, DiskLoadQuantiles)
		require.Positive(t, l.Quantiles[0])
		require.IsNonDecreasing(t, l.Quantiles)
	}
	// Measured again, each level is the mean of both passes.
	before := slices.Clone(cal.DiskLoad[2].Quantiles)
	require.NoError(t, cal.RemeasureDiskLoad(context.Background(), t.TempDir(), 40))
	require.Equal(t, 2, cal.DiskLoadPasses)
	require.Equal(t, []int{1, 2, 3}, levelWriters(cal.DiskLoad))
	require.NotEqual(t, before, cal.DiskLoad[2].Quantiles, "the second pass moved the quantiles")
	for _, l := range cal.DiskLoad {
		require.Len(t, l.Quantiles, DiskLoadQuantiles)
		require.Positive(t, l.Quantiles[0])
		require.IsNonDecreasing(t, l.Quantiles)
	}
	// The scenario accepts what the calibration measured.
	sc, err := sim.LoadScenario(ScenarioName)
	require.NoError(t, err)
	sc.Topology.DiskChannels, sc.Topology.DiskLoad = 0, cal.DiskLoad
	require.NoError(t, sc.Validate())

	// Levels reach past the disk probe when the run is larger.
	cal, err = Calibrate(context.Background(), t.TempDir(), 20, 9)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 4, 8, 9}, levelWriters(cal.DiskLoad))

	_, err = Calibrate(context.Background(), t.TempDir(), 5, 3)
	require.ErrorContains(t, err, "at least 10")
	_, err = Calibrate(context.Background(), t.TempDir(), 40, 1)
	require.ErrorContains(t, err, "journal probe writers")
}

// The run's disk by load groups each synced commit by the commits in
// flight when it began, pools loads seen too rarely with their neighbours
// (dropping none), and makes one level of a run too short for more.
func TestRunLoadGroupsCommitsByConcurrency(t *testing.T) {
	ms := int64(time.Millisecond)
	var spans []commitSpan
	at := int64(0)
	for range 300 { // alone: 1 ms
		spans = append(spans, commitSpan{at, at + ms})
		at += 10 * ms
	}
	for range 300 { // in pairs begun together: 3 ms
		spans = append(spans, commitSpan{at, at + 3*ms}, commitSpan{at, at + 3*ms})
		at += 10 * ms
	}
	for range 10 { // a rare triple: too few for a level of its own
		for range 3 {
			spans = append(spans, commitSpan{at, at + 9*ms})
		}
		at += 10 * ms
	}
	levels, counts := runLoad(spans, 200)
	require.Equal(t, []int{1, 2}, levelWriters(levels))
	require.Equal(t, []int{300, 630}, counts, "the triples joined the pairs")
	for _, q := range levels[0].Quantiles {
		require.Equal(t, time.Millisecond, q)
	}
	for _, q := range levels[1].Quantiles[:95] {
		require.Equal(t, 3*time.Millisecond, q)
	}
	require.Equal(t, 9*time.Millisecond, levels[1].Quantiles[100], "the rare load's latency is kept")

	// Rare loads between common ones pool upwards into one level at their
	// median load.
	var mixed []commitSpan
	at = 0
	for k := 1; k <= 4; k++ {
		for range 60 {
			for range k {
				mixed = append(mixed, commitSpan{at, at + int64(k)*ms})
			}
			at += 10 * ms
		}
	}
	levels, counts = runLoad(mixed, 200)
	require.Equal(t, []int{60 + 120 + 180, 240}, counts, "loads 1-3 pool until they reach 200 commits; load 4 has enough alone")
	require.Equal(t, []int{2, 4}, levelWriters(levels), "each at its median commit's load")
	sc, err := sim.LoadScenario(ScenarioName)
	require.NoError(t, err)
	sc.Topology.DiskLoad, sc.Topology.ProcessCPU, sc.Topology.DiskChannels = levels, time.Millisecond, 0
	require.NoError(t, sc.Validate(), "the levels make a valid disk_load")

	// A commit that begins as another ends does not overlap it.
	short := []commitSpan{{0, ms}, {ms, 2 * ms}, {ms, 3 * ms}}
	levels, counts = runLoad(short, 200)
	require.Len(t, levels, 1, "no load seen 200 times: one level of everything")
	require.Equal(t, []int{3}, counts)
	require.Equal(t, 2, levels[0].Writers, "at the most frequent load (two commits begun at 1 ms)")
	require.Equal(t, time.Millisecond, levels[0].Quantiles[0])
	require.Equal(t, 2*time.Millisecond, levels[0].Quantiles[len(levels[0].Quantiles)-1])
	levels, counts = runLoad(nil, 200)
	require.Nil(t, levels)
	require.Nil(t, counts)

	// 100 loads, each seen 200 times, make at most sim.MaxLoadLevels
	// levels of at least 200 each.
	var many []commitSpan
	at = 0
	for k := 1; k <= 100; k++ {
		for range 200 / k {
			for range k {
				many = append(many, commitSpan{at, at + ms})
			}
			at += 10 * ms
		}
	}
	levels, counts = runLoad(many, 200)
	require.LessOrEqual(t, len(levels), sim.MaxLoadLevels)
	require.Greater(t, len(levels), sim.MaxLoadLevels/2)
	total := 0
	for _, c := range counts {
		require.GreaterOrEqual(t, c, 200)
		total += c
	}
	require.Equal(t, len(many), total, "no commit dropped")
}

// Quantiles of a histogram interpolate within buckets and clamp infinite
// bounds to their finite neighbours.
func TestHistogramQuantiles(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0, 1e-3, 2e-3, math.Inf(1)}
	counts := []uint64{0, 50, 50, 0}
	q := histogramQuantiles(buckets, counts, 100, 5)
	require.Equal(t, []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond, 2 * time.Millisecond}, q)
	q = histogramQuantiles(buckets, []uint64{0, 0, 0, 10}, 10, 3)
	require.Equal(t, []time.Duration{2 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond}, q, "beyond the last finite bound")
	before := readSched()
	done := make(chan struct{})
	for range 100 {
		go func() { done <- struct{}{} }()
		<-done
	}
	lat := schedLatencySince(before)
	if lat != nil { // the runtime samples goroutines; a quiet run may record none
		require.Len(t, lat, DiskLoadQuantiles)
		require.True(t, slices.IsSorted(lat))
	}
}

// The simulated side's membership traffic is read over the real run's
// window: the samples that end within it.
func TestMembershipOverWindow(t *testing.T) {
	series := []sim.Sample{
		{TimeSeconds: 1, MembershipBytesPerMemberPerSecond: 100},
		{TimeSeconds: 2, MembershipBytesPerMemberPerSecond: 200},
		{TimeSeconds: 3, MembershipBytesPerMemberPerSecond: 400},
		{TimeSeconds: 4, MembershipBytesPerMemberPerSecond: 800},
	}
	got, ok := membershipOver(series, [2]float64{1.5, 3})
	require.True(t, ok)
	require.Equal(t, 300.0, got)
	_, ok = membershipOver(series, [2]float64{5, 9})
	require.False(t, ok, "no sample in the window")
}
