package sim

import (
	"math/rand/v2"
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
	require.Equal(t, 1400*us, nw.handle(rng, 0))
	require.Equal(t, 2400*us, nw.handle(rng, 0))
	require.Equal(t, 3400*us, nw.handle(rng, 0))

	// Unshared: every message takes its own time, whenever it is ready.
	free := newNetwork(Topology{ProcessDelay: time.Millisecond, ProcessCPU: 400 * time.Microsecond}, map[string]int{}, 3)
	require.Equal(t, 1400*us, free.handle(rng, 0))
	require.Equal(t, 1400*us, free.handle(rng, 0))

	// Without ProcessCPU the older one-step model holds: the write's time
	// on the cores.
	old := newNetwork(Topology{ProcessDelay: time.Millisecond, HostCores: 2}, map[string]int{}, 3)
	require.Equal(t, 1000*us, old.handle(rng, 0))
	require.Equal(t, 1000*us, old.handle(rng, 0))
	require.Equal(t, 2000*us, old.handle(rng, 0))
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
	require.Equal(t, 500*us, nw.handle(rng, 0))
	// Three writes ready while it commits (cores unshared): the first
	// opens the next commit at 500, the others join it.
	require.Equal(t, 900*us, nw.handle(rng, 100*us))
	require.Equal(t, 1000*us, nw.handle(rng, 200*us))
	require.Equal(t, 1100*us, nw.handle(rng, 300*us))
	// Ready once that commit has started (at 500): it waits for its end.
	require.Equal(t, 1500*us, nw.handle(rng, 500*us))
	// Idle again: a lone write takes a lone write's time.
	require.Equal(t, 2500*us, nw.handle(rng, 2000*us))
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
