package gossip

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
