package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// Every member's gossip rounds push to exactly the peers a production
// node would: gossip.Ring's overlay over that member's own view, computed
// anew through churn. Up to fullViewLimit members Sync is handed the
// whole view and derives the overlay itself; beyond, the simulator hands
// it the overlay (peers.go).
func TestMembersPushToProductionsOverlayOfTheirView(t *testing.T) {
	for _, members := range []int{60, fullViewLimit + 40} {
		t.Run(fmt.Sprint(members), func(t *testing.T) {
			sc := scenario(t, "churn", members, 40*time.Second)
			sc.Events[0].At = 5 * time.Second
			sc.Events[0].Churn.Over = 20 * time.Second
			w, err := NewWorld(sc)
			require.NoError(t, err)
			w.RunUntil(sc.Duration)
			fullMesh := w.syncCfg.FullMesh
			if w.ring != nil {
				fullMesh = w.fullMesh // Sync's own is lifted (peers.go)
			}
			require.Equal(t, gossip.DefaultConfig().Sync.FullMesh, fullMesh)
			checked := 0
			for i, m := range w.members {
				if !m.alive {
					continue
				}
				var view []crdt.ReplicaID
				w.sw.views[i].each(func(p int32) { view = append(view, w.members[p].id) })
				want := gossip.NewRing(view).Neighbours(m.id, fullMesh)
				require.Equal(t, want, m.sync.Targets(), "member %d pushes to peers production would not", i)
				if w.ring == nil {
					assert.Len(t, m.sync.Peers(), len(view)-1, "member %d: Sync should hold the whole view", i)
				} else {
					assert.Equal(t, want, m.sync.Peers(), "member %d: Sync should hold only the overlay", i)
				}
				checked++
			}
			s := w.Summary()
			require.Greater(t, checked, members*8/10)
			assert.Greater(t, s.MembersCreated, members, "churn should have added members")
			assert.Zero(t, s.UnconvergedWrites)
			assert.Positive(t, s.ConvergedWrites)
			assert.Less(t, s.PushPeersMean, float64(fullMesh), "beyond the full mesh, the overlay's degree")
			if w.ring == nil {
				assert.Equal(t, "all live", s.AntiEntropyPeers)
			} else {
				assert.Equal(t, "overlay", s.AntiEntropyPeers)
			}
		})
	}
}
