package sim

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A message's handling is its computation on the shared cores, then its
// durable write on the shared disk; each pool serves in FIFO order.
func TestHandleQueuesOnCoresThenDisk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nw := newNetwork(Topology{ProcessDelay: time.Millisecond, ProcessCPU: 400 * time.Microsecond, HostCores: 1, DiskChannels: 1},
		map[string]int{}, 3)
	us := int64(time.Microsecond)
	// Three messages ready at once: the core serves them back to back,
	// the disk starts each write when both it and the computation are done.
	require.Equal(t, 1400*us, nw.handle(rng, 0, 0))
	require.Equal(t, 2400*us, nw.handle(rng, 0, 0))
	require.Equal(t, 3400*us, nw.handle(rng, 0, 0))

	// Unshared: every message takes its own time, whenever it is ready.
	free := newNetwork(Topology{ProcessDelay: time.Millisecond, ProcessCPU: 400 * time.Microsecond}, map[string]int{}, 3)
	require.Equal(t, 1400*us, free.handle(rng, 0, 0))
	require.Equal(t, 1400*us, free.handle(rng, 0, 0))

	// Without ProcessCPU the older one-step model holds: the write's time
	// on the cores.
	old := newNetwork(Topology{ProcessDelay: time.Millisecond, HostCores: 2}, map[string]int{}, 3)
	require.Equal(t, 1000*us, old.handle(rng, 0, 0))
	require.Equal(t, 1000*us, old.handle(rng, 0, 0))
	require.Equal(t, 2000*us, old.handle(rng, 0, 0))
}

// With a journal, writes ready while a commit runs join the next commit:
// it starts when the running one ends and grows by the per-write cost for
// each joiner, so latency grows with load while throughput tends to one
// write per DiskCommitPerWrite.
func TestJournalGroupCommits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	us := int64(time.Microsecond)
	nw := newNetwork(Topology{ProcessDelay: 400 * time.Microsecond, ProcessCPU: 100 * time.Microsecond, DiskCommitPerWrite: 100 * time.Microsecond},
		map[string]int{}, 4)
	// A lone write: its computation, then a whole commit.
	require.Equal(t, 500*us, nw.handle(rng, 0, 0))
	// Three writes ready while it commits (cores unshared): the first
	// opens the next commit at 500, the others join it.
	require.Equal(t, 900*us, nw.handle(rng, 100*us, 100*us))
	require.Equal(t, 1000*us, nw.handle(rng, 200*us, 200*us))
	require.Equal(t, 1100*us, nw.handle(rng, 300*us, 300*us))
	// Ready once that commit has started (at 500): it waits for its end.
	require.Equal(t, 1500*us, nw.handle(rng, 500*us, 500*us))
	// Idle again: a lone write takes a lone write's time.
	require.Equal(t, 2500*us, nw.handle(rng, 2000*us, 2000*us))
}

func TestJournalScenarioValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		top  Topology
		want string
	}{
		"longer than a write": {Topology{ProcessDelay: time.Millisecond, ProcessCPU: time.Millisecond, DiskCommitPerWrite: 2 * time.Millisecond}, "want (0, process_delay"},
		"negative":            {Topology{ProcessDelay: time.Millisecond, ProcessCPU: time.Millisecond, DiskCommitPerWrite: -1}, "disk_commit_per_write"},
		"with channels":       {Topology{ProcessDelay: time.Millisecond, ProcessCPU: time.Millisecond, DiskCommitPerWrite: 1, DiskChannels: 2}, "not both"},
		"one-step model":      {Topology{ProcessDelay: time.Millisecond, DiskCommitPerWrite: 1}, "needs process_cpu"},
	} {
		t.Run(name, func(t *testing.T) {
			sc, err := LoadScenario("validation")
			require.NoError(t, err)
			top := tc.top
			top.Regions, top.DefaultLink = sc.Topology.Regions, sc.Topology.DefaultLink
			sc.Topology = top
			require.ErrorContains(t, sc.Validate(), tc.want)
		})
	}
}

// With disk_load, a write's latency is drawn from what the real disk
// showed with as many writers in flight as there are when it starts,
// interpolated between measured levels and between quantiles.
func TestLoadedDiskLatencyFollowsLoad(t *testing.T) {
	us := int64(time.Microsecond)
	flat := func(writers int, d time.Duration) DiskLoadLevel {
		return DiskLoadLevel{Writers: writers, Quantiles: []time.Duration{d, d}}
	}
	d := &byLoad{levels: []DiskLoadLevel{flat(1, time.Millisecond), flat(2, 5*time.Millisecond), flat(3, 9*time.Millisecond)}}
	rng := rand.New(rand.NewPCG(1, 2))
	require.Equal(t, 1000*us, d.run(rng, 0, 0), "alone")
	require.Equal(t, 5500*us, d.run(rng, 0, 500*us), "one other in flight")
	require.Equal(t, 9600*us, d.run(rng, 0, 600*us), "two others in flight")
	// At 2 ms the first write is over; the two others still overlap.
	require.Equal(t, 11000*us, d.run(rng, 2000*us, 2000*us))
	require.Len(t, d.spans, 3, "writes over by the engine's time are forgotten")
	require.Equal(t, 21000*us, d.run(rng, 20000*us, 20000*us), "idle again")
	require.Len(t, d.spans, 1)

	spread := &byLoad{levels: []DiskLoadLevel{
		{Writers: 1, Quantiles: []time.Duration{100 * time.Microsecond, 300 * time.Microsecond}},
		{Writers: 3, Quantiles: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}},
	}}
	for _, tc := range []struct {
		u    float64
		k    int
		want int64
	}{
		{0, 1, 100 * us},
		{0.5, 1, 200 * us},
		{0.5, 2, 1100 * us},  // halfway between the levels' medians
		{0.75, 3, 2500 * us}, // between the measured quantiles
		{0.5, 7, 2000 * us},  // beyond the last level: the last level
	} {
		require.Equal(t, tc.want, spread.latency(tc.u, tc.k), "u=%v k=%d", tc.u, tc.k)
	}
}

func TestDiskLoadScenarioValidation(t *testing.T) {
	ok := []DiskLoadLevel{{Writers: 1, Quantiles: []time.Duration{1, 2}}}
	for name, tc := range map[string]struct {
		levels []DiskLoadLevel
		top    Topology
		want   string
	}{
		"with channels":   {ok, Topology{ProcessCPU: 1, DiskChannels: 1}, "set one disk model"},
		"with journal":    {ok, Topology{ProcessDelay: 2, ProcessCPU: 1, DiskCommitPerWrite: 1}, "set one disk model"},
		"one-step model":  {ok, Topology{}, "needs process_cpu"},
		"no writers":      {[]DiskLoadLevel{{Writers: 0, Quantiles: []time.Duration{1, 2}}}, Topology{ProcessCPU: 1}, "writers 0"},
		"out of order":    {[]DiskLoadLevel{ok[0], ok[0]}, Topology{ProcessCPU: 1}, "more than the level before"},
		"one quantile":    {[]DiskLoadLevel{{Writers: 1, Quantiles: []time.Duration{1}}}, Topology{ProcessCPU: 1}, "1 quantiles"},
		"decreasing":      {[]DiskLoadLevel{{Writers: 1, Quantiles: []time.Duration{2, 1}}}, Topology{ProcessCPU: 1}, "must not decrease"},
		"zero latency":    {[]DiskLoadLevel{{Writers: 1, Quantiles: []time.Duration{0, 1}}}, Topology{ProcessCPU: 1}, "(0, 1m]"},
		"over a minute":   {[]DiskLoadLevel{{Writers: 1, Quantiles: []time.Duration{1, 2 * time.Minute}}}, Topology{ProcessCPU: 1}, "(0, 1m]"},
		"too many levels": {make([]DiskLoadLevel, MaxLoadLevels+1), Topology{ProcessCPU: 1}, "levels"},
	} {
		t.Run(name, func(t *testing.T) {
			sc, err := LoadScenario("validation")
			require.NoError(t, err)
			top := tc.top
			top.Regions, top.DefaultLink, top.DiskLoad = sc.Topology.Regions, sc.Topology.DefaultLink, tc.levels
			sc.Topology = top
			require.ErrorContains(t, sc.Validate(), tc.want)
		})
	}
	sc, err := LoadScenario("validation")
	require.NoError(t, err)
	sc.Topology.DiskChannels, sc.Topology.DiskLoad = 0, ok
	require.NoError(t, sc.Validate())

	// In a scenario file, quantiles are durations.
	raw, err := os.ReadFile("scenarios/validation.yaml")
	require.NoError(t, err)
	raw = bytes.Replace(raw, []byte("disk_channels: 1"), []byte("disk_load:\n    - {writers: 1, quantiles: [200us, 300us, 1ms]}\n    - {writers: 8, quantiles: [2ms, 9ms]}"), 1)
	parsed, err := ParseScenario(raw)
	require.NoError(t, err)
	require.Equal(t, []DiskLoadLevel{
		{Writers: 1, Quantiles: []time.Duration{200 * time.Microsecond, 300 * time.Microsecond, time.Millisecond}},
		{Writers: 8, Quantiles: []time.Duration{2 * time.Millisecond, 9 * time.Millisecond}},
	}, parsed.Topology.DiskLoad)
}

// A measured link draws its delay from the measured quantiles, not a
// log-normal, and a scenario file gives them as durations.
func TestMeasuredLinkLatency(t *testing.T) {
	us := int64(time.Microsecond)
	lm := newLinkModel(Link{Latency: Latency{Quantiles: []time.Duration{time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond}}})
	require.Equal(t, float64(2*time.Millisecond), lm.median, "the median SWIM's dissemination adds")
	rng := rand.New(rand.NewPCG(3, 4))
	var below2 int
	for range 10_000 {
		d := lm.delay(rng, 1000)
		require.GreaterOrEqual(t, d, 1000*us)
		require.LessOrEqual(t, d, 10_000*us)
		if d < 2000*us {
			below2++
		}
	}
	require.InDelta(t, 5000, below2, 250, "half the draws below the median")

	withBandwidth := newLinkModel(Link{Latency: Latency{Quantiles: []time.Duration{time.Millisecond, time.Millisecond}}, BandwidthMbps: 8})
	require.Equal(t, 1000*us+1000*us, withBandwidth.delay(rng, 1000), "1,000 bytes at 8 Mbps take 1 ms more")

	raw, err := os.ReadFile("scenarios/validation.yaml")
	require.NoError(t, err)
	raw = bytes.Replace(raw, []byte("latency: {median: 150us, sigma: 0.3}"), []byte("latency: {quantiles: [40ms, 50ms, 60ms]}"), 1)
	sc, err := ParseScenario(raw)
	require.NoError(t, err)
	require.Equal(t, []time.Duration{40 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond}, sc.Topology.DefaultLink.Latency.Quantiles)
	sc.Duration = 20 * time.Second
	res, err := Run(context.Background(), sc, RunOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, res.Latencies)
	// Every write crosses at least one link of at least 40 ms; the
	// default link (150 µs) converges within a few ms.
	require.GreaterOrEqual(t, res.Latencies[0], 0.040)
}

func TestMeasuredLinkValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		lat  Latency
		want string
	}{
		"median and quantiles": {Latency{Median: time.Millisecond, Quantiles: []time.Duration{1, 2}}, "not both"},
		"sigma and quantiles":  {Latency{Sigma: 0.3, Quantiles: []time.Duration{1, 2}}, "not both"},
		"one quantile":         {Latency{Quantiles: []time.Duration{1}}, "1 quantiles"},
		"decreasing":           {Latency{Quantiles: []time.Duration{2, 1}}, "must not decrease"},
		"zero":                 {Latency{Quantiles: []time.Duration{0, 1}}, "(0, 1m]"},
		"over a minute":        {Latency{Quantiles: []time.Duration{1, 2 * time.Minute}}, "(0, 1m]"},
	} {
		t.Run(name, func(t *testing.T) {
			sc, err := LoadScenario("validation")
			require.NoError(t, err)
			sc.Topology.DefaultLink.Latency = tc.lat
			require.ErrorContains(t, sc.Validate(), tc.want)
		})
	}
	// A measured link's bandwidth and loss are checked as a log-normal one's.
	sc, err := LoadScenario("validation")
	require.NoError(t, err)
	sc.Topology.DefaultLink.Latency = Latency{Quantiles: []time.Duration{1, 2}}
	require.NoError(t, sc.Validate())
	sc.Topology.DefaultLink.BandwidthMbps = -1
	require.ErrorContains(t, sc.Validate(), "bandwidth_mbps -1")
	sc.Topology.DefaultLink.BandwidthMbps, sc.Topology.DefaultLink.Loss = 10, 1
	require.ErrorContains(t, sc.Validate(), "loss 1 drops every message")
}

// With transit_load a message's time in transit is drawn at the number of
// messages in transit when it is sent, in place of the link's latency; the
// link's bandwidth still adds.
func TestTransitByLoad(t *testing.T) {
	ms := int64(time.Millisecond)
	flat := func(k int, d time.Duration) DiskLoadLevel {
		return DiskLoadLevel{Writers: k, Quantiles: []time.Duration{d, d}}
	}
	top := Topology{
		Regions:     []Region{{Name: "host", Weight: 1}},
		DefaultLink: Link{Latency: Latency{Median: time.Second}, BandwidthMbps: 8},
		TransitLoad: []DiskLoadLevel{flat(1, time.Millisecond), flat(3, 3*time.Millisecond)},
	}
	nw := newNetwork(top, map[string]int{"host": 0}, 2)
	lm := nw.link(0, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	require.Equal(t, 10*ms+1*ms, nw.arrival(rng, lm, 10*ms, 0), "alone: the level at 1, not the link's second")
	require.Equal(t, 10*ms+2*ms, nw.arrival(rng, lm, 10*ms, 0), "one other in transit: between the levels")
	require.Equal(t, 10*ms+3*ms+ms, nw.arrival(rng, lm, 10*ms, 1000), "two others, and 1,000 bytes at 8 Mbps")
	require.Equal(t, 20*ms+1*ms, nw.arrival(rng, lm, 20*ms, 0), "the others arrived: alone again")

	sc, err := LoadScenario("validation")
	require.NoError(t, err)
	sc.Topology.TransitLoad = top.TransitLoad
	require.NoError(t, sc.Validate())
	sc.Topology.TransitHandoffs, sc.Topology.HandoffLatency = 1, []time.Duration{1, 2}
	require.ErrorContains(t, sc.Validate(), "transit_load and transit_handoffs")
	sc.Topology.TransitHandoffs, sc.Topology.HandoffLatency = 0, nil
	sc.Topology.TransitLoad = []DiskLoadLevel{flat(2, time.Millisecond), flat(1, time.Millisecond)}
	require.ErrorContains(t, sc.Validate(), "transit_load[1]: writers 1, want more than the level before")
	sc.Topology.TransitLoad = []DiskLoadLevel{{Writers: 1, Quantiles: []time.Duration{0, 1}}}
	require.ErrorContains(t, sc.Validate(), "transit_load[0]: quantiles must lie in (0, 1m]")

	// In a run, the busier the host, the slower a write spreads (members
	// handle messages at once: transit is all there is).
	conv := func(levels []DiskLoadLevel) float64 {
		sc, err := LoadScenario("validation")
		require.NoError(t, err)
		sc.Duration = 20 * time.Second
		sc.Topology.ProcessCPU, sc.Topology.ProcessDelay, sc.Topology.ProcessSigma = 0, 0, 0
		sc.Topology.DiskChannels, sc.Topology.HostCores = 0, 0
		sc.Topology.TransitLoad = levels
		res, err := Run(context.Background(), sc, RunOptions{})
		require.NoError(t, err)
		return Quantile(res.Latencies, 0.5)
	}
	quiet := conv([]DiskLoadLevel{flat(1, time.Millisecond)})
	busy := conv([]DiskLoadLevel{flat(1, time.Millisecond), flat(20, 20*time.Millisecond)})
	require.Greater(t, busy, 2*quiet)
}
