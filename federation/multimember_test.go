package federation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fedSim runs several members' controllers on a fake clock, with the real
// Reconcile and embedded clusters. Replicated state is modelled per
// partition side (a side is what gossip would converge to); the liveness
// view of a member is the alive members of its side. No sleeps.
type fedSim struct {
	t         *testing.T
	liveSince map[string]time.Time
	now       time.Time
	members   []*simMember
	sides     map[int]*simState
	deletes   int // workload deletions, all members
}

type simMember struct {
	name    string
	labels  map[string]string
	cluster *Embedded
	alive   bool
	side    int
	inc     int
}

type simState struct {
	deps    []*FederatedDeployment
	members map[string]*Member
	reports map[string]PlacementReport
}

func newSimState() *simState {
	return &simState{members: map[string]*Member{}, reports: map[string]PlacementReport{}}
}

func (s *simState) clone() *simState {
	c := newSimState()
	for _, d := range s.deps {
		c.deps = append(c.deps, d.DeepCopy())
	}
	maps.Copy(c.members, s.members)
	maps.Copy(c.reports, s.reports)
	return c
}

func newFedSim(t *testing.T, n int, cfg EmbeddedConfig, labels func(i int) map[string]string) *fedSim {
	s := &fedSim{t: t, liveSince: map[string]time.Time{}, now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), sides: map[int]*simState{0: newSimState()}}
	for i := range n {
		m := &simMember{name: fmt.Sprintf("m%d", i+1), alive: true}
		if labels != nil {
			m.labels = labels(i)
		}
		var err error
		m.cluster, err = NewEmbedded(cfg, func() time.Time { return s.now })
		require.NoError(t, err)
		s.members = append(s.members, m)
	}
	return s
}

func (s *fedSim) addDeployment(d *FederatedDeployment) {
	for _, st := range s.sides {
		st.deps = append(st.deps, d.DeepCopy())
	}
}

// step advances the clock by dt and runs every alive member's controller
// once.
func (s *fedSim) step(dt time.Duration) {
	s.now = s.now.Add(dt)
	ctx := context.Background()
	for _, m := range s.members {
		if !m.alive {
			continue
		}
		st := s.sides[m.side]
		capacity, alloc, err := m.cluster.Resources(ctx)
		require.NoError(s.t, err)
		st.members[m.name] = &Member{
			ObjectMeta: metav1.ObjectMeta{Name: m.name, Labels: m.labels},
			Spec:       MemberSpec{DID: "did:key:" + m.name},
			Status: MemberStatus{Capacity: capacity, Allocatable: alloc, LastHeartbeat: metav1.NewTime(s.now), Incarnation: fmt.Sprint(m.inc),
				Conditions: []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionTrue}}},
		}
		local, err := m.cluster.Workloads(ctx)
		require.NoError(s.t, err)
		v := View{Self: m.name, Now: s.now, Deployments: st.deps, Local: local, LiveSince: s.liveSince, Incarnation: fmt.Sprint(m.inc)}
		for _, name := range slices.Sorted(maps.Keys(st.members)) {
			v.Members = append(v.Members, st.members[name])
		}
		for _, o := range s.members {
			if o.alive && o.side == m.side {
				v.Live = append(v.Live, o.name)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(st.reports)) {
			v.Reports = append(v.Reports, st.reports[k])
		}
		p := Reconcile(v)
		for _, w := range p.Apply {
			require.NoError(s.t, m.cluster.Apply(ctx, w))
		}
		for _, w := range p.Delete {
			s.deletes++
			require.NoError(s.t, m.cluster.Delete(ctx, w.Namespace, w.Name))
		}
		for _, r := range p.Reports {
			st.reports[r.Member+"|"+r.Deployment] = r
		}
	}
}

// partition splits the members: side(i) is member i's side.
func (s *fedSim) partition(side func(i int) int) {
	base := s.sides[0]
	s.sides = map[int]*simState{}
	for i, m := range s.members {
		m.side = side(i)
		if _, ok := s.sides[m.side]; !ok {
			s.sides[m.side] = base.clone()
		}
	}
}

// heal merges every side's state (reports are single-writer: the newest
// wins) and puts every member on one side.
func (s *fedSim) heal() {
	merged := newSimState()
	for _, k := range slices.Sorted(maps.Keys(s.sides)) {
		st := s.sides[k]
		if merged.deps == nil {
			merged.deps = st.deps
		}
		for name, m := range st.members {
			if have, ok := merged.members[name]; !ok || m.Status.LastHeartbeat.After(have.Status.LastHeartbeat.Time) {
				merged.members[name] = m
			}
		}
		for key, r := range st.reports {
			if have, ok := merged.reports[key]; !ok || r.Updated.After(have.Updated.Time) {
				merged.reports[key] = r
			}
		}
	}
	s.sides = map[int]*simState{0: merged}
	for _, m := range s.members {
		m.side = 0
		s.liveSince[m.name] = s.now
	}
}

// ready returns the ready replicas of deployment key on the alive members
// of side (-1: all sides).
func (s *fedSim) ready(key string, side int) int32 {
	var n int32
	for _, m := range s.members {
		if !m.alive || (side >= 0 && m.side != side) {
			continue
		}
		ws, _ := m.cluster.Workloads(context.Background())
		for _, w := range ws {
			if w.Key() == key {
				n += w.Ready
			}
		}
	}
	return n
}

func (s *fedSim) running(member int, key string) int32 {
	ws, _ := s.members[member].cluster.Workloads(context.Background())
	for _, w := range ws {
		if w.Key() == key {
			return w.Desired
		}
	}
	return 0
}

// runUntil steps until cond holds, returning the simulated time it took.
func (s *fedSim) runUntil(dt time.Duration, limit time.Duration, cond func() bool) time.Duration {
	s.t.Helper()
	start := s.now
	for !cond() {
		require.Less(s.t, s.now.Sub(start), limit, "condition not reached in %s of simulated time", limit)
		s.step(dt)
	}
	return s.now.Sub(start)
}

func webDeployment(replicas int32) *FederatedDeployment {
	d := &FederatedDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-web", Generation: 1}}
	d.Spec.Replicas = &replicas
	d.Spec.Template.Template.Spec.Containers = []corev1.Container{{
		Name: "web", Image: "nginx:1.27",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
		}},
	}}
	return d
}

const tick = 500 * time.Millisecond

func TestMultiMemberPlacementSelectorsAndWeights(t *testing.T) {
	s := newFedSim(t, 6, DefaultEmbeddedConfig(), func(i int) map[string]string {
		return map[string]string{LabelRegion: []string{"eu", "us"}[i%2]}
	})
	d := webDeployment(8)
	d.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelRegion: "eu"}}
	d.Spec.ReplicaScheduling.Weights = []ClusterWeight{{"m1", 2}, {"m3", 1}, {"m5", 1}}
	d.Spec.Overrides = []Override{{Cluster: "m3", Images: map[string]string{"web": "nginx:1.28"}}}
	s.addDeployment(d)
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 8 })
	require.Equal(t, []int32{4, 0, 2, 0, 2, 0}, []int32{s.running(0, "default/web"), s.running(1, "default/web"),
		s.running(2, "default/web"), s.running(3, "default/web"), s.running(4, "default/web"), s.running(5, "default/web")})
	require.Equal(t, "nginx:1.28", s.members[2].cluster.wls["default/web"].w.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, "nginx:1.27", s.members[0].cluster.wls["default/web"].w.Spec.Template.Spec.Containers[0].Image)
}

func TestMultiMemberCapacityShortage(t *testing.T) {
	small := DefaultEmbeddedConfig()
	small.Nodes, small.NodeCPU = 1, resource.MustParse("1") // 4 pods of 250m each
	s := newFedSim(t, 3, small, nil)
	s.addDeployment(webDeployment(18))
	// 3 × 4 = 12 fit; the rest is unschedulable, and reported so.
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	for range 10 {
		s.step(tick)
	}
	require.Equal(t, int32(12), s.ready("default/web", -1))
	var unsched int32
	for _, r := range s.sides[0].reports {
		unsched += r.Unschedulable
	}
	a := Reconcile(View{Self: "m1", Now: s.now, Deployments: s.sides[0].deps, Members: slices.Collect(maps.Values(s.sides[0].members)),
		Live: []string{"m1", "m2", "m3"}, Reports: slices.Collect(maps.Values(s.sides[0].reports))}).Assignments["default/web"]
	require.Equal(t, int32(6), a.Unschedulable, "the scheduler knows 6 fit nowhere")
	// A member with room joins: the shortfall moves to it.
	big, err := NewEmbedded(DefaultEmbeddedConfig(), func() time.Time { return s.now })
	require.NoError(t, err)
	s.members = append(s.members, &simMember{name: "m4", cluster: big, alive: true})
	took := s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 18 })
	t.Logf("shortfall re-placed on the new member in %s", took)
	require.GreaterOrEqual(t, s.running(3, "default/web"), int32(6))
}

func TestMultiMemberDeathRedistributes(t *testing.T) {
	s := newFedSim(t, 6, DefaultEmbeddedConfig(), nil)
	s.addDeployment(webDeployment(12))
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	s.members[1].alive = false // kill -9: its cluster's replicas are gone with it
	require.Less(t, s.ready("default/web", -1), int32(12))
	took := s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	t.Logf("dead member's share ready elsewhere after %s (embedded start delay 2s)", took)
	require.LessOrEqual(t, took, 5*time.Second)
	require.Zero(t, s.deletes)
}

// A member cut off for a long time keeps serving (alone, it restores the
// full count on itself); when it comes back it gets its share again and
// no workload anywhere is deleted.
func TestMultiMemberRejoinAfterLongAbsenceDeletesNothing(t *testing.T) {
	s := newFedSim(t, 6, DefaultEmbeddedConfig(), nil)
	s.addDeployment(webDeployment(12))
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	s.partition(func(i int) int { return map[bool]int{true: 1, false: 0}[i == 5] })
	for range int(time.Hour / (10 * time.Second)) {
		s.step(10 * time.Second)
	}
	require.Equal(t, int32(12), s.ready("default/web", 0), "the five restored the full count")
	require.Equal(t, int32(12), s.ready("default/web", 1), "the lone member too")
	s.heal()
	before := s.deletes
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 && s.running(5, "default/web") == 2 })
	for range 20 {
		s.step(tick)
		require.GreaterOrEqual(t, s.ready("default/web", -1), int32(12))
	}
	require.Equal(t, before, s.deletes, "no workload deleted on rejoin")
	require.Equal(t, int32(2), s.running(5, "default/web"), "the returning member has its share")
}

// Partition 3/3 and heal: each side restores 12 ready and, once it has,
// never drops below; after heal the total goes back to 12 make-before-break
// and is never below 12 at any step.
func TestMultiMemberPartitionAndHealMakeBeforeBreak(t *testing.T) {
	s := newFedSim(t, 6, DefaultEmbeddedConfig(), nil)
	s.addDeployment(webDeployment(12))
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	s.partition(func(i int) int { return i / 3 })
	reached := map[int]bool{}
	for range int(2 * time.Minute / tick) {
		s.step(tick)
		for side := range 2 {
			r := s.ready("default/web", side)
			if reached[side] {
				require.GreaterOrEqual(t, r, int32(12), "side %d dropped below 12 at %s", side, s.now)
			}
			if r >= 12 {
				reached[side] = true
			}
		}
	}
	require.True(t, reached[0] && reached[1], "each side restored 12")
	s.heal()
	steps := 0
	for s.ready("default/web", -1) != 12 || s.totalDesired("default/web") != 12 {
		s.step(tick)
		steps++
		require.GreaterOrEqual(t, s.ready("default/web", -1), int32(12), "below desired during heal at %s", s.now)
		require.Less(t, steps, 200)
	}
	for range 20 {
		s.step(tick)
		require.Equal(t, int32(12), s.ready("default/web", -1))
	}
	require.Zero(t, s.deletes, "heal scales down; it deletes no workload")
}

func (s *fedSim) totalDesired(key string) int32 {
	var n int32
	for i, m := range s.members {
		if m.alive {
			n += s.running(i, key)
		}
	}
	return n
}

func TestMultiMemberDeletedDeploymentIsRemoved(t *testing.T) {
	s := newFedSim(t, 3, DefaultEmbeddedConfig(), nil)
	s.addDeployment(webDeployment(3))
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 3 })
	s.sides[0].deps = nil
	s.step(tick)
	for i := range 3 {
		require.Zero(t, s.running(i, "default/web"))
	}
	require.Equal(t, 3, s.deletes)
}

// A member that died and comes back with an empty cluster gets its share
// again; the others hand it over make-before-break: they scale down only
// as its replicas become ready, so ready never drops below desired.
func TestMultiMemberRestartMakeBeforeBreak(t *testing.T) {
	s := newFedSim(t, 6, DefaultEmbeddedConfig(), nil)
	s.addDeployment(webDeployment(12))
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	s.members[1].alive = false
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	for range 10 {
		s.step(tick)
	}
	fresh, err := NewEmbedded(DefaultEmbeddedConfig(), func() time.Time { return s.now })
	require.NoError(t, err)
	s.members[1].cluster, s.members[1].alive = fresh, true
	s.members[1].inc++
	s.liveSince["m2"] = s.now
	for range 40 {
		s.step(tick)
		require.GreaterOrEqual(t, s.ready("default/web", -1), int32(12), "below desired at %s", s.now)
	}
	require.Equal(t, int32(2), s.running(1, "default/web"))
	require.Equal(t, int32(12), s.totalDesired("default/web"), "surplus removed once the replacement is ready")
}

func TestMultiMemberMinMax(t *testing.T) {
	s := newFedSim(t, 4, DefaultEmbeddedConfig(), nil)
	d := webDeployment(12)
	d.Spec.ReplicaScheduling.Limits = []ClusterLimit{{Cluster: "m1", Max: 1}, {Cluster: "m2", Min: 6}}
	s.addDeployment(d)
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	require.Equal(t, int32(1), s.running(0, "default/web"))
	require.Equal(t, int32(6), s.running(1, "default/web"))
	require.Equal(t, int32(5), s.running(2, "default/web")+s.running(3, "default/web"))
	// m2 dies: its minimum cannot be met; its six go to m3 and m4, m1
	// stays at its maximum.
	s.members[1].alive = false
	s.runUntil(tick, time.Minute, func() bool { return s.ready("default/web", -1) == 12 })
	require.Equal(t, int32(1), s.running(0, "default/web"))
	require.Equal(t, int32(11), s.running(2, "default/web")+s.running(3, "default/web"))
}
