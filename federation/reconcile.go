package federation

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// View is everything one member's controller decides from: the replicated
// state it holds (deployments, members, every member's reports), its own
// liveness view and its own cluster.
type View struct {
	Self        string
	Now         time.Time
	Deployments []*FederatedDeployment
	Members     []*Member
	// Live are the members in this member's membership view, self included.
	Live []string
	// LiveSince is when each member last (re)entered the view (absent:
	// long ago). Reports are trusted for scaling down only once the member
	// has been heard from since (see trusted).
	LiveSince map[string]time.Time
	// Incarnation is this member's controller incarnation.
	Incarnation string
	Reports     []PlacementReport
	Local       []WorkloadStatus

	// Indexes built by index(), so a pass is linear in the state.
	reportIdx map[[2]string]PlacementReport
	memberIdx map[string]*Member
}

// index sorts Live and builds the lookup tables of reports and members;
// the lookups below call it on first use.
func (v *View) index() {
	v.Live = slices.Sorted(slices.Values(v.Live))
	v.reportIdx = make(map[[2]string]PlacementReport, len(v.Reports))
	for _, r := range v.Reports {
		v.reportIdx[[2]string{r.Member, r.Deployment}] = r
	}
	v.memberIdx = make(map[string]*Member, len(v.Members))
	for _, m := range v.Members {
		v.memberIdx[m.Name] = m
	}
}

// Plan is what the controller does next: cluster changes and the reports
// it publishes (one per deployment it runs or is assigned).
type Plan struct {
	Apply   []Workload
	Delete  []WorkloadStatus
	Reports []PlacementReport
	// Assignments are the computed assignments, by deployment key.
	Assignments map[string]Assignment
}

// DeploymentKey returns namespace/name.
func DeploymentKey(d *FederatedDeployment) string { return d.Namespace + "/" + d.Name }

// rankKey is what ranks members for a deployment: its UID, or its
// namespaced name when it has none.
func rankKey(d *FederatedDeployment) string {
	if d.UID != "" {
		return string(d.UID)
	}
	return DeploymentKey(d)
}

func (v *View) report(member, deployment string) (PlacementReport, bool) {
	if v.reportIdx == nil {
		v.index()
	}
	r, ok := v.reportIdx[[2]string{member, deployment}]
	return r, ok
}

func (v *View) member(name string) *Member {
	if v.memberIdx == nil {
		v.index()
	}
	return v.memberIdx[name]
}

func (v *View) live(m string) bool {
	if v.memberIdx == nil {
		v.index() // sorts Live
	}
	_, ok := slices.BinarySearch(v.Live, m)
	return ok
}

// MemberReady reports whether a member says its cluster is healthy.
func MemberReady(m *Member) bool {
	for _, c := range m.Status.Conditions {
		if c.Type == ConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// Candidates returns the scheduler's view of the members for deployment
// d, sorted by name.
func (v *View) Candidates(d *FederatedDeployment) []Candidate {
	key := DeploymentKey(d)
	out := make([]Candidate, 0, len(v.Members))
	for _, m := range v.Members {
		c := Candidate{
			Name:   m.Name,
			DID:    m.Spec.DID,
			Labels: m.Labels,
			Live:   v.live(m.Name),
			Ready:  MemberReady(m),
		}
		if r, ok := v.report(m.Name, key); ok {
			c.Capacity = r.Capacity
		} else if m.Status.Allocatable != nil {
			c.Capacity = estimateCapacity(m.Status.Allocatable, &d.Spec.Template)
		} else {
			c.Capacity = -1
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Reconcile decides what member v.Self runs: for every deployment it
// computes the full assignment and applies only its own share. Scaling up
// is immediate; scaling down is make-before-break: the member keeps
// replicas until the members now assigned them report them ready, so the
// federation never drops below what is ready. Workloads of deleted
// deployments are removed. Pure and deterministic.
func Reconcile(v View) Plan {
	v.index()
	p := Plan{Assignments: map[string]Assignment{}}
	local := map[string]WorkloadStatus{}
	for _, w := range v.Local {
		local[w.Key()] = w
	}
	want := map[string]bool{}
	deps := slices.Clone(v.Deployments)
	slices.SortFunc(deps, func(a, b *FederatedDeployment) int { return strings.Compare(DeploymentKey(a), DeploymentKey(b)) })
	for _, d := range deps {
		key := DeploymentKey(d)
		want[key] = true
		a := Schedule(d, v.Candidates(d))
		p.Assignments[key] = a
		assigned := a.For(v.Self)
		cur, running := local[key]
		target := assigned
		if running && cur.Desired > assigned {
			target = min(cur.Desired, max(assigned, v.keepForSafety(d, a)))
		}
		if target > 0 {
			p.Apply = append(p.Apply, workloadFor(d, v.Self, target))
		} else if running {
			p.Delete = append(p.Delete, cur)
		}
		if target == 0 && !running && assigned == 0 {
			if _, had := v.report(v.Self, key); !had {
				continue
			}
		}
		rep := PlacementReport{
			Member:             v.Self,
			Incarnation:        v.Incarnation,
			Deployment:         key,
			ObservedGeneration: d.Generation,
			Assigned:           assigned,
			Desired:            target,
			Shortfall:          a.Unschedulable,
			Updated:            metav1.NewTime(v.Now),
		}
		if running {
			rep.Ready, rep.Unschedulable, rep.Capacity = min(cur.Ready, target), cur.Unschedulable, cur.Capacity
			if target < cur.Desired && rep.Unschedulable > 0 {
				rep.Unschedulable = max(0, rep.Unschedulable-(cur.Desired-target))
			}
		} else {
			rep.Capacity = v.ownCapacity(d)
		}
		if rep.Unschedulable > 0 || rep.Shortfall > 0 {
			since := metav1.NewTime(v.Now)
			if prev, ok := v.report(v.Self, key); ok && prev.UnschedulableSince != nil {
				since = *prev.UnschedulableSince
			}
			rep.UnschedulableSince = &since
		}
		p.Reports = append(p.Reports, rep)
	}
	for _, w := range v.Local {
		if !want[w.Key()] {
			p.Delete = append(p.Delete, w)
		}
	}
	return p
}

// keepForSafety is how many replicas this member must keep for d while
// the members assigned the rest do not yet report them ready.
func (v *View) keepForSafety(d *FederatedDeployment, a Assignment) int32 {
	key := DeploymentKey(d)
	if d.Spec.ReplicaScheduling.SchedulingTypeOrDefault() == Duplicated {
		// Every assigned member must be up before this one lets go.
		for _, s := range a.Shares {
			if s.Member == v.Self {
				continue
			}
			r, ok := v.report(s.Member, key)
			if !ok || !v.trusted(r) || r.Ready < s.Replicas {
				return 1 << 30
			}
		}
		return 0
	}
	var readyElsewhere int32
	for _, s := range a.Shares {
		if s.Member == v.Self || !v.live(s.Member) {
			continue
		}
		if r, ok := v.report(s.Member, key); ok && v.trusted(r) {
			readyElsewhere += min(r.Ready, s.Replicas)
		}
	}
	return max(0, a.Total()+a.Unschedulable-readyElsewhere)
}

// trusted reports whether a member's report may justify scaling down:
// it comes from the member's current incarnation, and the member has been
// heard from (heartbeat) since it last entered the view. A report left over
// from before a restart or a partition may describe replicas that are gone.
func (v *View) trusted(r PlacementReport) bool {
	if !v.live(r.Member) {
		return false
	}
	m := v.member(r.Member)
	if m == nil || m.Status.Incarnation != r.Incarnation {
		return false
	}
	since, ok := v.LiveSince[r.Member]
	return !ok || !m.Status.LastHeartbeat.Time.Before(since)
}

func (v *View) ownCapacity(d *FederatedDeployment) int32 {
	if m := v.member(v.Self); m != nil && m.Status.Allocatable != nil {
		return estimateCapacity(m.Status.Allocatable, &d.Spec.Template)
	}
	return -1
}

// workloadFor builds member's workload for d with replicas, overrides
// applied.
func workloadFor(d *FederatedDeployment, member string, replicas int32) Workload {
	spec := *d.Spec.Template.DeepCopy()
	spec.Replicas = &replicas
	w := Workload{Namespace: d.Namespace, Name: d.Name, Replicas: replicas, Spec: spec}
	for _, o := range d.Spec.Overrides {
		if o.Cluster != member {
			continue
		}
		for i := range w.Spec.Template.Spec.Containers {
			c := &w.Spec.Template.Spec.Containers[i]
			if img, ok := o.Images[c.Name]; ok {
				c.Image = img
			}
			for _, e := range o.Env {
				if j := slices.IndexFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name }); j >= 0 {
					c.Env[j] = e
				} else {
					c.Env = append(c.Env, e)
				}
			}
		}
		if len(o.Labels) > 0 {
			if w.Labels == nil {
				w.Labels = map[string]string{}
			}
			if w.Spec.Template.Labels == nil {
				w.Spec.Template.Labels = map[string]string{}
			}
			for k, val := range o.Labels {
				w.Labels[k] = val
				w.Spec.Template.Labels[k] = val
			}
		}
	}
	return w
}

func readyCondition() metav1.Condition {
	return metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue}
}
