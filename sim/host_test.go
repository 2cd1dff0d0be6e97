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
}
