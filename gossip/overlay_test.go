package gossip

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// overlayIDs returns n distinct member IDs shaped as production's.
func overlayIDs(rng *rand.Rand, n int) []crdt.ReplicaID {
	const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	ids := make([]crdt.ReplicaID, n)
	for i := range ids {
		b := []byte("did:key:z6Mk")
		for len(b) < 56 {
			b = append(b, b58[rng.IntN(len(b58))])
		}
		ids[i] = crdt.ReplicaID(b)
	}
	return ids
}

// overlayGraph is every member's neighbour set over one ring.
func overlayGraph(ids []crdt.ReplicaID, fullMesh int) map[crdt.ReplicaID][]crdt.ReplicaID {
	r := NewRing(ids)
	g := make(map[crdt.ReplicaID][]crdt.ReplicaID, len(ids))
	for _, id := range ids {
		g[id] = r.Neighbours(id, fullMesh)
	}
	return g
}

// bruteNeighbours computes the overlay by its definition: ring
// neighbours, forward fingers found by a linear scan, and the reverse of
// every member's forward fingers.
func bruteNeighbours(ids []crdt.ReplicaID) map[crdt.ReplicaID][]crdt.ReplicaID {
	ring := slices.Clone(ids)
	slices.SortFunc(ring, func(a, b crdt.ReplicaID) int {
		pa, pb := ringPos(a), ringPos(b)
		switch {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return 0
	})
	n := len(ring)
	succ := func(x uint64) int {
		for j, id := range ring {
			if ringPos(id) >= x {
				return j
			}
		}
		return 0
	}
	sets := map[crdt.ReplicaID]map[crdt.ReplicaID]bool{}
	link := func(a, b crdt.ReplicaID) {
		if a == b {
			return
		}
		for _, e := range [][2]crdt.ReplicaID{{a, b}, {b, a}} {
			if sets[e[0]] == nil {
				sets[e[0]] = map[crdt.ReplicaID]bool{}
			}
			sets[e[0]][e[1]] = true
		}
	}
	for i, id := range ring {
		for k := 1; k <= ringNeighbours; k++ {
			link(id, ring[(i+k)%n])
		}
	}
	// Forward fingers by a scan; each target keeps the fingersIn landing
	// nearest it (the last in ring order from its arc's start).
	for l := 1; l <= bits.Len(uint(n)); l++ {
		d := uint64(1) << (64 - l)
		landing := map[int][]int{}
		for i, id := range ring {
			j := succ(ringPos(id) + d)
			landing[j] = append(landing[j], i)
		}
		for j, from := range landing {
			// Order the members landing on j as the ring does from the
			// start of j's arc: by distance from pos(j)-d... going round.
			lo := ringPos(ring[(j-1+n)%n]) - d
			slices.SortFunc(from, func(a, b int) int {
				da, db := ringPos(ring[a])-lo-1, ringPos(ring[b])-lo-1
				switch {
				case da < db:
					return -1
				case da > db:
					return 1
				}
				return 0
			})
			for _, i := range from[max(0, len(from)-fingersIn):] {
				link(ring[i], ring[j])
			}
		}
	}
	out := map[crdt.ReplicaID][]crdt.ReplicaID{}
	for id, set := range sets {
		for p := range set {
			out[id] = append(out[id], p)
		}
		slices.Sort(out[id])
	}
	return out
}

func TestOverlayMatchesItsDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 4, 5, 6, 9, 17, 40, 200} {
		for trial := range 5 {
			ids := overlayIDs(rng, n)
			want := bruteNeighbours(ids)
			got := overlayGraph(ids, 0)
			for _, id := range ids {
				require.Equal(t, want[id], got[id], "n=%d trial %d member %s", n, trial, id)
			}
		}
	}
}

func TestOverlayUpToFullMeshIsEveryone(t *testing.T) {
	ids := overlayIDs(rand.New(rand.NewPCG(3, 4)), 33)
	g := overlayGraph(ids, 32)
	for _, id := range ids {
		want := slices.DeleteFunc(slices.Clone(ids), func(p crdt.ReplicaID) bool { return p == id })
		slices.Sort(want)
		require.Equal(t, want, g[id])
	}
	// One more member and the overlay takes over.
	ids = append(ids, overlayIDs(rand.New(rand.NewPCG(5, 6)), 1)...)
	g = overlayGraph(ids, 32)
	assert.Less(t, len(g[ids[0]]), 33)
}

func TestOverlayIsSymmetricConnectedAndLogarithmic(t *testing.T) {
	for _, n := range []int{34, 100, 1000, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ids := overlayIDs(rand.New(rand.NewPCG(uint64(n), 7)), n)
			g := overlayGraph(ids, 32)
			logN := bits.Len(uint(n))
			maxDeg, sum := 0, 0
			for a, ns := range g {
				require.NotContains(t, ns, a)
				for _, b := range ns {
					_, ok := slices.BinarySearch(g[b], a)
					require.True(t, ok, "%s lists %s but not the reverse", a, b)
				}
				maxDeg = max(maxDeg, len(ns))
				sum += len(ns)
			}
			// Degree: 2*ringNeighbours, logN fingers out and at most
			// fingersIn in per level.
			assert.LessOrEqual(t, maxDeg, (1+fingersIn)*logN+2*ringNeighbours, "max degree")
			assert.LessOrEqual(t, float64(sum)/float64(n), float64(2*logN+2*ringNeighbours), "mean degree")
			// Connected, with a logarithmic diameter from member 0.
			depth := map[crdt.ReplicaID]int{ids[0]: 0}
			queue := []crdt.ReplicaID{ids[0]}
			far := 0
			for len(queue) > 0 {
				a := queue[0]
				queue = queue[1:]
				for _, b := range g[a] {
					if _, seen := depth[b]; !seen {
						depth[b] = depth[a] + 1
						far = max(far, depth[b])
						queue = append(queue, b)
					}
				}
			}
			require.Len(t, depth, n, "overlay not connected")
			assert.LessOrEqual(t, far, logN, "hops from one member to the farthest")
			t.Logf("n=%d: degree mean %.1f max %d, eccentricity %d", n, float64(sum)/float64(n), maxDeg, far)
		})
	}
}

func TestOverlayChangesLocallyUnderChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	ids := overlayIDs(rng, 1001)
	before := overlayGraph(ids[:1000], 32)
	changed := func(after map[crdt.ReplicaID][]crdt.ReplicaID, skip crdt.ReplicaID) int {
		c := 0
		for _, id := range ids[:1000] {
			if id != skip && !slices.Equal(before[id], after[id]) {
				c++
			}
		}
		return c
	}
	joined := changed(overlayGraph(ids, 32), "")
	left := changed(overlayGraph(ids[1:1000], 32), ids[0])
	// Ring neighbours, fingers into the joiner's arc, and the joiner's
	// own fingers' owners: a few dozen of 1,000.
	assert.Positive(t, joined)
	assert.LessOrEqual(t, joined, 60, "members whose neighbours a join changed")
	assert.LessOrEqual(t, left, 60, "members whose neighbours a leave changed")
	t.Logf("a join changed %d members' neighbours, a leave %d", joined, left)
}

func TestOverlayIgnoresOrderAndDuplicates(t *testing.T) {
	ids := overlayIDs(rand.New(rand.NewPCG(10, 11)), 300)
	shuffled := slices.Clone(ids)
	rand.New(rand.NewPCG(12, 13)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	shuffled = append(shuffled, ids[:50]...)
	a, b := NewRing(ids), NewRing(shuffled)
	require.Equal(t, 300, b.Len())
	for _, id := range ids[:20] {
		require.Equal(t, a.Neighbours(id, 32), b.Neighbours(id, 32))
	}
	assert.Nil(t, a.Neighbours("did:key:z6MkNotAMember", 32))
}

// sliceView admits the ring indices it holds.
type sliceView map[int]bool

func (v sliceView) Has(k int) bool { return v[k] }
func (v sliceView) Len() int       { return len(v) }

// A member's overlay over its view of a larger ring is the overlay of a
// ring built of that view alone: the simulator asks the first, nodes the
// second.
func TestOverlayOverAViewIsTheViewsOverlay(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	for _, n := range []int{3, 10, 60, 500} {
		all := overlayIDs(rng, n)
		ring := NewRing(all)
		for _, keep := range []float64{1, 0.9, 0.5, 0.1} {
			view := sliceView{}
			var ids []crdt.ReplicaID
			for k := range n {
				if rng.Float64() < keep || k == 0 {
					view[k] = true
					ids = append(ids, ring.ID(k))
				}
			}
			alone := NewRing(ids)
			for k := range n {
				if !view[k] {
					require.Nil(t, ring.NeighboursAt(k, 0, view), "a member outside the view has no neighbours in it")
				}
			}
			for k := range view {
				for _, fullMesh := range []int{0, 32} {
					var got []crdt.ReplicaID
					for _, j := range ring.NeighboursAt(k, fullMesh, view) {
						require.True(t, view[j], "neighbour outside the view")
						got = append(got, ring.ID(j))
					}
					slices.Sort(got)
					want := alone.Neighbours(ring.ID(k), fullMesh)
					if len(want) == 0 {
						want = nil
					}
					require.Equal(t, want, got, "n=%d keep=%.1f member %d fullMesh %d", n, keep, k, fullMesh)
				}
			}
		}
	}
}
