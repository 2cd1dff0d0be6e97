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
