package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
)

// The federation model: scenarios with a `deployment` run, on every member,
// the steps of federation.Controller.ReconcileOnce against the member's own
// replica: publish the Member object (on change or every
// HeartbeatInterval), read deployments, members and reports from the
// replica with the real decoders (federation.DecodeDeployment,
// DecodeMember, DecodePlacement), build a federation.View whose Live set is
// the member's SWIM view, run the real federation.Reconcile (which runs
// federation.Schedule), apply the plan to a federation.Embedded cluster on
// the virtual clock, and publish changed PlacementStatus reports into the
// replica, from where anti-entropy carries them. The real Controller is not
// used as is because it needs a durable crdt.Store and draws a random
// incarnation; this file is that loop's glue, not its decisions.
//
// Ground truth for the metrics: a deployment's ready replicas are the
// ready pods of its workloads on alive members' clusters (a crashed
// member's cluster is gone with it). replicas_below_desired_seconds
// integrates, at fedSampleStep resolution, the virtual time during which
// that is below spec.replicas (counted from the deployment's creation).

const fedSampleStep = 100 * time.Millisecond

type fedModel struct {
	spec    *DeploySpec
	key     crdt.Key
	fdKey   string // namespace/name
	created bool
	embCfg  federation.EmbeddedConfig
	ctlCfg  federation.ControllerConfig
}

func newFedModel(w *World, spec *DeploySpec) (*fedModel, error) {
	key, err := crdt.MakeKey(federation.Group, federation.KindFederatedDeployment, "default", "web")
	if err != nil {
		return nil, fmt.Errorf("deployment key: %w", err)
	}
	f := &fedModel{spec: spec, key: key, fdKey: "default/web", embCfg: federation.DefaultEmbeddedConfig(), ctlCfg: federation.DefaultControllerConfig()}
	f.embCfg.StartDelay = spec.PodStartDelay
	f.ctlCfg.Interval = spec.ControllerInterval
	for _, m := range w.members {
		f.attach(w, m)
	}
	w.eng.Schedule(int64(spec.At), evFedCreate, -1, 0)
	w.eng.Schedule(int64(spec.At), evFedSample, -1, 0)
	return f, nil
}

// attach gives member m a controller (started with its timers).
func (f *fedModel) attach(w *World, m *member) {
	m.ctl = &controller{f: f, m: m, cache: map[crdt.Key]cached{}, liveSince: map[string]time.Time{}, lastReports: map[string]federation.PlacementReport{}, nextAt: -1}
}

// create writes the FederatedDeployment through a random alive member.
func (f *fedModel) create(w *World) {
	o := w.randomAlive()
	if o < 0 {
		return
	}
	replicas := f.spec.Replicas
	fd := federation.FederatedDeployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindFederatedDeployment},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "sim-web"},
		Spec: federation.FederatedDeploymentSpec{
			Replicas:  &replicas,
			Placement: federation.Placement{MaxClusters: f.spec.MaxClusters},
			Template: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "nginx",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
			}}}}},
		},
	}
	b, err := json.Marshal(fd)
	if err != nil {
		w.met.syncErrors++
		return
	}
	m := w.members[o]
	if _, err := m.rep.r.Put(f.key, b, crdt.PutOptions{BumpGeneration: true}); err != nil {
		w.met.syncErrors++
		return
	}
	f.created = true
	w.met.desired = replicas
	w.met.lastReadyAt = w.eng.now
	m.sync.Notify(toTime(w.eng.now))
	w.scheduleTick(m)
}

// sample integrates the time the deployment spent below desired.
func (f *fedModel) sample(w *World) {
	w.eng.Schedule(w.eng.now+int64(fedSampleStep), evFedSample, -1, 0)
	if !f.created {
		return
	}
	if w.met.lastReady < w.met.desired {
		w.met.belowDesired += w.eng.now - w.met.lastReadyAt
	}
	w.met.lastReady = f.ready(w)
	w.met.lastReadyAt = w.eng.now
}

// ready is the ground truth: ready pods on alive members' clusters.
func (f *fedModel) ready(w *World) int32 {
	var n int32
	for _, m := range w.members {
		if !m.alive || m.ctl == nil || m.ctl.cluster == nil {
			continue
		}
		ws, _ := m.ctl.cluster.Workloads(context.Background())
		for _, s := range ws {
			if s.Key() == f.fdKey {
				n += s.Ready
			}
		}
	}
	return n
}

type cached struct {
	rv  uint64
	dep *federation.FederatedDeployment
	mem *federation.Member
	rep *federation.PlacementReport
}

// controller is one member's controller loop state.
type controller struct {
	f           *fedModel
	m           *member
	cluster     *federation.Embedded
	incarnation string
	cache       map[crdt.Key]cached
	liveSince   map[string]time.Time
	lastMember  []byte
	lastBeat    time.Time
	lastReports map[string]federation.PlacementReport
	nextAt      int64
}

// start runs at member start and restart: a new cluster (a crashed
// member's cluster is gone), a new incarnation, the first pass at a random
// phase.
func (c *controller) start(w *World) {
	emb, err := federation.NewEmbedded(c.f.embCfg, func() time.Time { return toTime(w.eng.now) })
	if err != nil {
		w.met.syncErrors++
		return
	}
	c.cluster = emb
	c.incarnation = c.m.name + "-" + strconv.Itoa(c.m.inc)
	c.lastMember = nil
	clear(c.lastReports)
	c.schedule(w, w.eng.now+w.rng.Int64N(int64(c.f.ctlCfg.Interval)))
}

func (c *controller) crash() { c.cluster = nil; c.nextAt = -1 }

func (c *controller) schedule(w *World, at int64) {
	if c.nextAt >= 0 && c.nextAt <= at && c.nextAt >= w.eng.now {
		return
	}
	c.nextAt = at
	w.eng.Schedule(at, evController, c.m.idx, c.m.gen)
}

// viewChanged wakes the controller at once, as LiveChanged does.
func (c *controller) viewChanged(w *World, t int32, added bool) {
	if !c.m.alive || c.cluster == nil {
		return
	}
	if added {
		c.liveSince[w.members[t].name] = toTime(w.eng.now)
	}
	c.schedule(w, w.eng.now)
}

// tick is one ReconcileOnce.
func (c *controller) tick(w *World) {
	if w.eng.now != c.nextAt {
		return // replaced by a sooner pass
	}
	c.nextAt = -1
	c.schedule(w, w.eng.now+int64(c.f.ctlCfg.Interval))
	ctx := context.Background()
	now := toTime(w.eng.now)
	if err := c.publishMember(w, ctx, now); err != nil {
		w.met.syncErrors++
		return
	}
	v, err := c.view(w, ctx, now)
	if err != nil {
		w.met.syncErrors++
		return
	}
	plan := federation.Reconcile(v)
	for _, wl := range plan.Apply {
		if err := c.cluster.Apply(ctx, wl); err != nil {
			w.met.syncErrors++
		}
	}
	for _, wl := range plan.Delete {
		if err := c.cluster.Delete(ctx, wl.Namespace, wl.Name); err != nil {
			w.met.syncErrors++
		}
	}
	for _, r := range plan.Reports {
		if err := c.publishReport(w, r); err != nil {
			w.met.syncErrors++
		}
	}
}

func (c *controller) publishMember(w *World, ctx context.Context, now time.Time) error {
	capacity, alloc, err := c.cluster.Resources(ctx)
	if err != nil {
		return err
	}
	region := w.sc.Topology.Regions[c.m.region].Name
	mem := federation.Member{
		TypeMeta:   metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindMember},
		ObjectMeta: metav1.ObjectMeta{Name: c.m.name, Labels: map[string]string{federation.LabelRegion: region}},
		Spec:       federation.MemberSpec{DID: string(c.m.id), Cluster: "embedded"},
		Status: federation.MemberStatus{Capacity: capacity, Allocatable: alloc, Incarnation: c.incarnation,
			Conditions: []metav1.Condition{{Type: federation.ConditionReady, Status: metav1.ConditionTrue, Reason: "ClusterReachable", Message: "the cluster answers"}}},
	}
	cmp, err := json.Marshal(mem)
	if err != nil {
		return err
	}
	if bytes.Equal(cmp, c.lastMember) && now.Sub(c.lastBeat) < c.f.ctlCfg.HeartbeatInterval {
		return nil
	}
	mem.Status.LastHeartbeat = metav1.NewTime(now)
	mem.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now)
	b, err := json.Marshal(mem)
	if err != nil {
		return err
	}
	key, err := federation.MemberStoreKey(c.m.name)
	if err != nil {
		return err
	}
	if err := w.localWrite(c.m, key, b); err != nil {
		return err
	}
	c.lastMember, c.lastBeat = cmp, now
	return nil
}

func (c *controller) publishReport(w *World, r federation.PlacementReport) error {
	prev, ok := c.lastReports[r.Deployment]
	cmp := r
	cmp.Updated = prev.Updated
	if ok && equalJSON(cmp, prev) {
		return nil
	}
	ns, name, _ := strings.Cut(r.Deployment, "/")
	key, err := federation.PlacementStoreKey(ns, name, r.Member)
	if err != nil {
		return err
	}
	b, err := json.Marshal(federation.PlacementStatus{
		TypeMeta:   metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindPlacementStatus},
		ObjectMeta: metav1.ObjectMeta{Name: name + "." + r.Member, Namespace: ns},
		Spec:       r,
	})
	if err != nil {
		return err
	}
	if err := w.localWrite(c.m, key, b); err != nil {
		return err
	}
	c.lastReports[r.Deployment] = r
	return nil
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// view reads the member's replica, decoding only keys whose
// resourceVersion changed since the last pass.
func (c *controller) view(w *World, ctx context.Context, now time.Time) (federation.View, error) {
	v := federation.View{Self: c.m.name, Now: now, Incarnation: c.incarnation, LiveSince: c.liveSince}
	w.sw.views[c.m.idx].each(func(j int32) { v.Live = append(v.Live, w.members[j].name) })
	slices.Sort(v.Live)
	rep := c.m.rep.r
	for _, k := range rep.Keys() {
		s := string(k)
		isDep, isMem, isRep := strings.HasPrefix(s, federation.DeploymentPrefix), strings.HasPrefix(s, federation.MemberPrefix), strings.HasPrefix(s, federation.PlacementPrefix)
		if !isDep && !isMem && !isRep {
			continue
		}
		doc, rv, ok := rep.Get(k)
		if !ok || doc == nil || !doc.Exists() {
			delete(c.cache, k)
			continue
		}
		e, hit := c.cache[k]
		if !hit || e.rv != rv {
			e = cached{rv: rv}
			o := crdt.Object{Key: k, ResourceVersion: rv, Generation: doc.Generation(), Value: doc.JSON()}
			switch {
			case isDep:
				if d, err := federation.DecodeDeployment(o); err == nil {
					e.dep = d
				}
			case isMem:
				if m, err := federation.DecodeMember(o); err == nil {
					e.mem = m
				}
			case isRep:
				if r, err := federation.DecodePlacement(o); err == nil {
					e.rep = &r
				}
			}
			c.cache[k] = e
		}
		switch {
		case e.dep != nil:
			v.Deployments = append(v.Deployments, e.dep)
		case e.mem != nil:
			v.Members = append(v.Members, e.mem)
		case e.rep != nil:
			r := *e.rep
			if r.Member == c.m.name {
				if mine, ok := c.lastReports[r.Deployment]; ok {
					r = mine // our freshest report overrides what replicated back
				}
			}
			v.Reports = append(v.Reports, r)
		}
	}
	var err error
	if v.Local, err = c.cluster.Workloads(ctx); err != nil {
		return v, fmt.Errorf("list cluster workloads: %w", err)
	}
	return v, nil
}
