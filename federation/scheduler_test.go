package federation

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func fd(replicas int32, mut ...func(*FederatedDeployment)) *FederatedDeployment {
	d := &FederatedDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-web"}}
	d.Spec.Replicas = &replicas
	for _, m := range mut {
		m(d)
	}
	return d
}

func cands(n int, mut ...func(i int, c *Candidate)) []Candidate {
	var out []Candidate
	for i := range n {
		c := Candidate{
			Name: fmt.Sprintf("m%d", i+1), DID: fmt.Sprintf("did:key:m%d", i+1),
			Labels: map[string]string{LabelRegion: []string{"eu", "us", "ap"}[i%3]},
			Live:   true, Ready: true, Capacity: -1,
		}
		for _, m := range mut {
			m(i, &c)
		}
		out = append(out, c)
	}
	return out
}

func shares(a Assignment) map[string]int32 {
	out := map[string]int32{}
	for _, s := range a.Shares {
		out[s.Member] = s.Replicas
	}
	return out
}

func TestScheduleDivided(t *testing.T) {
	tests := []struct {
		name  string
		d     *FederatedDeployment
		c     []Candidate
		want  map[string]int32
		unsch int32
	}{
		{"even", fd(12), cands(4), map[string]int32{"m1": 3, "m2": 3, "m3": 3, "m4": 3}, 0},
		{"weights", fd(10, func(d *FederatedDeployment) {
			d.Spec.ReplicaScheduling.Weights = []ClusterWeight{{"m1", 3}, {"m2", 1}, {"m3", 1}}
		}), cands(3), map[string]int32{"m1": 6, "m2": 2, "m3": 2}, 0},
		{"zero weight excludes", fd(4, func(d *FederatedDeployment) {
			d.Spec.ReplicaScheduling.Weights = []ClusterWeight{{"m2", 0}}
		}), cands(3), map[string]int32{"m1": 2, "m3": 2}, 0},
		{"min and max", fd(10, func(d *FederatedDeployment) {
			d.Spec.ReplicaScheduling.Limits = []ClusterLimit{{Cluster: "m1", Max: 1}, {Cluster: "m2", Min: 5}}
		}), cands(3), map[string]int32{"m1": 1, "m2": 5, "m3": 4}, 0},
		{"selector", fd(6, func(d *FederatedDeployment) {
			d.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelRegion: "eu"}}
		}), cands(6), map[string]int32{"m1": 3, "m4": 3}, 0},
		{"explicit clusters", fd(5, func(d *FederatedDeployment) { d.Spec.Placement.Clusters = []string{"m2", "m5"} }),
			cands(6), map[string]int32{"m2": 3, "m5": 2}, 0},
		{"dead and unready excluded", fd(6), cands(4, func(i int, c *Candidate) {
			c.Live = i != 0
			c.Ready = i != 1
		}), map[string]int32{"m3": 3, "m4": 3}, 0},
		{"capacity shortfall moves", fd(12), cands(3, func(i int, c *Candidate) {
			if i == 0 {
				c.Capacity = 1
			}
		}), map[string]int32{"m1": 1, "m2": 6, "m3": 5}, 0},
		{"no capacity anywhere", fd(12), cands(2, func(i int, c *Candidate) { c.Capacity = 3 }),
			map[string]int32{"m1": 3, "m2": 3}, 6},
		{"capacity aware weights", fd(10, func(d *FederatedDeployment) { d.Spec.ReplicaScheduling.CapacityAware = true }),
			cands(2, func(i int, c *Candidate) { c.Capacity = []int32{30, 10}[i] }), map[string]int32{"m1": 8, "m2": 2}, 0},
		{"min pinned member takes what bounded ones cannot", fd(10, func(d *FederatedDeployment) {
			d.Spec.ReplicaScheduling.Limits = []ClusterLimit{{Cluster: "m1", Min: 6}, {Cluster: "m2", Max: 2}}
		}), cands(2), map[string]int32{"m1": 8, "m2": 2}, 0},
		{"nobody", fd(3), nil, map[string]int32{}, 3},
		{"zero replicas", fd(0), cands(3), map[string]int32{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Schedule(tc.d, tc.c)
			require.Equal(t, tc.want, shares(a))
			require.Equal(t, tc.unsch, a.Unschedulable)
		})
	}
}

func TestScheduleMaxClustersAndSpread(t *testing.T) {
	d := fd(6, func(d *FederatedDeployment) { d.Spec.Placement.MaxClusters = 3 })
	a := Schedule(d, cands(9))
	require.Len(t, a.Shares, 3)
	require.Equal(t, int32(6), a.Total())

	d.Spec.Placement.SpreadByLabel = LabelRegion
	a = Schedule(d, cands(9))
	regions := map[string]bool{}
	for _, s := range a.Shares {
		for _, c := range cands(9) {
			if c.Name == s.Member {
				regions[c.Labels[LabelRegion]] = true
			}
		}
	}
	require.Len(t, regions, 3, "one member per region: %v", a.Shares)

	// Rendezvous ranking: removing a member not chosen changes nothing.
	chosen := map[string]bool{}
	for _, s := range Schedule(fd(6, func(d *FederatedDeployment) { d.Spec.Placement.MaxClusters = 3 }), cands(9)).Shares {
		chosen[s.Member] = true
	}
	var fewer []Candidate
	dropped := false
	for _, c := range cands(9) {
		if !chosen[c.Name] && !dropped {
			dropped = true
			continue
		}
		fewer = append(fewer, c)
	}
	again := Schedule(fd(6, func(d *FederatedDeployment) { d.Spec.Placement.MaxClusters = 3 }), fewer)
	for _, s := range again.Shares {
		require.True(t, chosen[s.Member])
	}
}

func TestScheduleDuplicated(t *testing.T) {
	d := fd(3, func(d *FederatedDeployment) {
		d.Spec.ReplicaScheduling.Type = Duplicated
		d.Spec.ReplicaScheduling.Limits = []ClusterLimit{{Cluster: "m2", Max: 2}}
	})
	a := Schedule(d, cands(3))
	require.Equal(t, map[string]int32{"m1": 3, "m2": 2, "m3": 3}, shares(a))
	require.Equal(t, int32(1), a.Unschedulable)
}

// Every member computes the same assignment whatever order it lists the
// candidates in, and the total is always the replica count (or
// accounted unschedulable).
func TestScheduleDeterministicAndConserving(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for range 300 {
		n := 1 + rng.IntN(10)
		replicas := int32(rng.IntN(40))
		d := fd(replicas, func(d *FederatedDeployment) {
			d.UID = types.UID("u" + fmt.Sprint(rng.IntN(1000)))
			d.Spec.ReplicaScheduling.CapacityAware = rng.IntN(2) == 0
			if rng.IntN(3) == 0 {
				d.Spec.Placement.MaxClusters = int32(1 + rng.IntN(n))
			}
		})
		cs := cands(n, func(_ int, c *Candidate) {
			c.Live = rng.IntN(5) != 0
			if rng.IntN(2) == 0 {
				c.Capacity = int32(rng.IntN(10))
			}
		})
		if rng.IntN(3) == 0 {
			d.Spec.ReplicaScheduling.Limits = []ClusterLimit{{Cluster: "m1", Min: int32(rng.IntN(8))}, {Cluster: "m2", Max: int32(rng.IntN(4))}}
		}
		a := Schedule(d, cs)
		require.Equal(t, replicas, a.Total()+a.Unschedulable)
		if d.Spec.Placement.MaxClusters == 0 && !d.Spec.ReplicaScheduling.CapacityAware {
			for _, c := range cs {
				if c.Live && c.Capacity < 0 && c.Name != "m2" {
					require.Zero(t, a.Unschedulable, "an unbounded live member could take the rest: %+v", a)
				}
			}
		}
		for range 3 {
			rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			require.Equal(t, a, Schedule(d, cs))
		}
		for _, s := range a.Shares {
			for _, c := range cs {
				if c.Name == s.Member {
					require.True(t, c.Live)
					if c.Capacity >= 0 {
						require.LessOrEqual(t, s.Replicas, c.Capacity)
					}
				}
			}
		}
	}
}
