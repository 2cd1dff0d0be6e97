package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Processor sharing: jobs in computation share the cores equally, at most
// one core each, and a job that arrives slows the others down from then on.
func TestSharedCoresShareEqually(t *testing.T) {
	h := &sharedCores{cores: 1}
	h.add(0, 0, 10, 100)
	at, v1, ok := h.next()
	require.True(t, ok)
	require.Equal(t, int64(100), at, "alone: the whole core")

	h.add(50, 1, 11, 100)
	at, v2, ok := h.next()
	require.True(t, ok)
	require.Greater(t, v2, v1, "a change supersedes the queued completion")
	require.Equal(t, int64(150), at, "the first job's last 50 at half a core")

	done := h.finish(150, nil)
	require.Equal(t, []coreJob{{member: 0, slot: 10, left: 0}}, done)
	at, _, ok = h.next()
	require.True(t, ok)
	require.Equal(t, int64(200), at, "the second job alone again: 50 left")

	// Two cores: two jobs run at full speed; a third slows all three.
	h2 := &sharedCores{cores: 2}
	h2.add(0, 0, 0, 100)
	h2.add(0, 1, 1, 100)
	at, _, _ = h2.next()
	require.Equal(t, int64(100), at)
	h2.add(40, 2, 2, 30)
	at, _, _ = h2.next()
	require.Equal(t, int64(85), at, "30 of work at 2/3 of a core")

	// A crashed member's job leaves; the others speed up.
	removed := h2.remove(85, 2, nil)
	require.Len(t, removed, 1)
	require.Equal(t, int32(2), removed[0].member)
	at, _, _ = h2.next()
	require.Equal(t, int64(115), at, "the first two had 30 left at 85, at a whole core each again")

	empty := &sharedCores{cores: 2}
	_, _, ok = empty.next()
	require.False(t, ok)
}

// Under the shared scheduler every member still handles its messages one
// at a time, the run is deterministic, every write converges, and crashes
// empty the crashed member's loop.
func TestSharedHostScheduler(t *testing.T) {
	shared := func(name string, members int, d time.Duration) *Scenario {
		sc := scenario(t, name, members, d)
		sc.Topology.ProcessCPU = 300 * time.Microsecond
		sc.Topology.ProcessDelay = 200 * time.Microsecond
		sc.Topology.HostCores = 2
		sc.Topology.HostScheduler = HostShared
		require.NoError(t, sc.Validate())
		return sc
	}
	sc := shared("validation", 10, 20*time.Second)
	res, err := Run(t.Context(), sc, RunOptions{})
	require.NoError(t, err)
	require.Greater(t, len(res.Latencies), 50)
	assert.Equal(t, res.Summary.Writes, res.Summary.ConvergedWrites)

	fifo := scenario(t, "validation", 10, 20*time.Second)
	fifo.Topology.ProcessCPU, fifo.Topology.ProcessDelay, fifo.Topology.HostCores = 300*time.Microsecond, 200*time.Microsecond, 2
	fres, err := Run(t.Context(), fifo, RunOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, fres.Latencies, res.Latencies, "the scheduler changes the run")

	fail := shared("member-failure", 10, 40*time.Second)
	fail.Events[0].At = 20 * time.Second
	a, b := runTo(t, fail), runTo(t, fail)
	sa := deterministicSummary(t, a)
	assert.Equal(t, sa, deterministicSummary(t, b))
	assert.Equal(t, float64(3), sa["deaths_detected"])
	assert.Positive(t, sa["replicas_below_desired_seconds"])
}

// With disk_writes "changed" a message takes a durable write only where a
// store would make one: duplicates of what a member holds write nothing,
// yet every write still reaches every member durably.
func TestDiskWritesChanged(t *testing.T) {
	run := func(writes string, name string, members int, d time.Duration) *Scenario {
		sc := scenario(t, name, members, d)
		sc.Topology.ProcessCPU = 300 * time.Microsecond
		sc.Topology.ProcessDelay, sc.Topology.ProcessSigma = 2*time.Millisecond, 0
		sc.Topology.HostCores = 2
		sc.Topology.HostScheduler = HostShared
		sc.Topology.DiskWrites = writes
		require.NoError(t, sc.Validate())
		return sc
	}
	every, err := Run(t.Context(), run(DiskWritesEvery, "validation", 10, 20*time.Second), RunOptions{})
	require.NoError(t, err)
	changed, err := Run(t.Context(), run(DiskWritesChanged, "validation", 10, 20*time.Second), RunOptions{})
	require.NoError(t, err)
	for _, res := range []Result{every, changed} {
		require.Greater(t, res.Summary.Writes, 20)
		// The last write may still be spreading when the run ends.
		assert.GreaterOrEqual(t, res.Summary.ConvergedWrites, res.Summary.Writes-1)
		assert.Zero(t, res.Summary.ProtocolErrors)
	}
	// Every message handled is written under "every"; under "changed"
	// each write is written at least once by each of the 9 receivers.
	assert.InDelta(t, float64(every.Summary.Messages), float64(every.Summary.DurableWrites), float64(every.Summary.Messages)/20)
	assert.GreaterOrEqual(t, changed.Summary.DurableWrites, uint64(9*changed.Summary.ConvergedWrites))
	assert.Less(t, float64(changed.Summary.DurableWrites)/float64(changed.Summary.Messages), 0.9,
		"duplicates and unchanged acks write nothing")
	assert.Less(t, changed.Summary.ConvergenceP50Seconds, every.Summary.ConvergenceP50Seconds, "fewer writes to wait for")
	// Under "changed" a workload write is durable at its origin before it
	// spreads: with one receiver, 2 ms there and 2 ms at the receiver.
	pair, err := Run(t.Context(), run(DiskWritesChanged, "validation", 2, 5*time.Second), RunOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, pair.Latencies)
	assert.GreaterOrEqual(t, pair.Latencies[0], 0.004)
	// A message in hand takes its computation (at most a core) and, under
	// "every", its 2 ms write.
	assert.GreaterOrEqual(t, every.HandlingPerMessage, 2300*time.Microsecond)
	assert.GreaterOrEqual(t, changed.HandlingPerMessage, 300*time.Microsecond)
	assert.Less(t, changed.HandlingPerMessage, every.HandlingPerMessage)

	fail := run(DiskWritesChanged, "member-failure", 10, 40*time.Second)
	fail.Events[0].At = 20 * time.Second
	a, b := runTo(t, fail), runTo(t, fail)
	sa := deterministicSummary(t, a)
	assert.Equal(t, sa, deterministicSummary(t, b))
	assert.Equal(t, float64(3), sa["deaths_detected"], "crashes drop held messages")
}

func TestHostSchedulerValidation(t *testing.T) {
	sc := scenario(t, "validation", 5, time.Second)
	sc.Topology.HostScheduler = "lifo"
	require.ErrorContains(t, sc.Validate(), `want "fifo" or "shared"`)
	sc.Topology.HostScheduler = HostShared
	sc.Topology.HostCores = 0
	require.ErrorContains(t, sc.Validate(), "needs host_cores and process_cpu")
	sc.Topology.HostCores, sc.Topology.ProcessCPU = 2, 0
	require.ErrorContains(t, sc.Validate(), "needs host_cores and process_cpu")
	sc.Topology.HostScheduler = HostFIFO
	require.NoError(t, sc.Validate())
	sc.Topology.DiskWrites = DiskWritesChanged
	require.ErrorContains(t, sc.Validate(), `disk_writes "changed" needs host_scheduler "shared"`)
	sc.Topology.DiskWrites = "some"
	require.ErrorContains(t, sc.Validate(), `want "every" or "changed"`)
}

// Each goroutine hand-off in transit adds a draw from the measured
// scheduling latency to every message's trip: with three hand-offs of
// exactly 1 ms every hop takes 3 ms longer.
func TestTransitHandoffs(t *testing.T) {
	base := scenario(t, "validation", 10, 20*time.Second)
	with := scenario(t, "validation", 10, 20*time.Second)
	with.Topology.TransitHandoffs = 3
	with.Topology.HandoffLatency = []time.Duration{time.Millisecond, time.Millisecond}
	require.NoError(t, with.Validate())
	a, err := Run(t.Context(), base, RunOptions{})
	require.NoError(t, err)
	b, err := Run(t.Context(), with, RunOptions{})
	require.NoError(t, err)
	require.Positive(t, b.Summary.ConvergedWrites)
	// A write's first copies travel one hop at least.
	assert.GreaterOrEqual(t, b.Latencies[0], a.Latencies[0]+0.003)
	assert.GreaterOrEqual(t, b.Summary.ConvergenceP50Seconds, a.Summary.ConvergenceP50Seconds+0.003)

	bad := []struct {
		n    int
		q    []time.Duration
		want string
	}{
		{3, nil, "set both or neither"},
		{0, []time.Duration{0, time.Millisecond}, "set both or neither"},
		{-1, nil, "want 0 to 32"},
		{33, []time.Duration{0, 1}, "want 0 to 32"},
		{1, []time.Duration{time.Millisecond}, "1 quantiles, want 2 to 1001"},
		{1, []time.Duration{2, 1}, "must not decrease"},
		{1, []time.Duration{-1, 1}, "must lie in"},
		{1, []time.Duration{0, 2 * time.Minute}, "must lie in"},
	}
	for _, c := range bad {
		sc := scenario(t, "validation", 5, time.Second)
		sc.Topology.TransitHandoffs, sc.Topology.HandoffLatency = c.n, c.q
		require.ErrorContains(t, sc.Validate(), c.want, "%d hand-offs, %v", c.n, c.q)
	}
}
