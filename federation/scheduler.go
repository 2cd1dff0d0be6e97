package federation

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Candidate is a member as the scheduler sees it. Every field comes from
// replicated state (the Member object, the member's PlacementStatus) except
// Live, which is the computing member's own failure-detector view: during a
// partition each side sees only itself live, and so restores the full count
// among the members it can reach.
type Candidate struct {
	Name   string
	DID    string
	Labels map[string]string
	// Live: in the computing member's membership view.
	Live bool
	// Ready: the member reports its cluster healthy.
	Ready bool
	// Capacity is how many replicas of the deployment the member can run
	// in all; negative means unknown (no bound).
	Capacity int32
}

// Share is one member's part of an assignment.
type Share struct {
	Member   string
	Replicas int32
}

// Assignment is the scheduler's answer: shares sorted by member name
// (members with no replicas left out) and the replicas that fit nowhere.
type Assignment struct {
	Shares        []Share
	Unschedulable int32
}

// For returns member's replicas in the assignment.
func (a Assignment) For(member string) int32 {
	for _, s := range a.Shares {
		if s.Member == member {
			return s.Replicas
		}
	}
	return 0
}

// Total returns the replicas assigned.
func (a Assignment) Total() int32 {
	var t int32
	for _, s := range a.Shares {
		t += s.Replicas
	}
	return t
}

// rank is a member's rendezvous score for a deployment: stable whatever
// other members come and go, and different per deployment, so load
// spreads without coordination.
func rank(uid, did, name string) uint64 {
	h := sha256.Sum256([]byte(uid + "\x00" + did + "\x00" + name))
	return binary.BigEndian.Uint64(h[:8])
}

type ranked struct {
	Candidate
	score  uint64
	weight int64
	min    int32
	max    int32 // upper bound from limits and capacity; -1: none
}

// Schedule computes the assignment of fd over the candidates: a pure,
// deterministic function (no map order, no clock), so every member that
// sees the same state computes the same assignment.
func Schedule(fd *FederatedDeployment, cands []Candidate) Assignment {
	spec := &fd.Spec
	total := spec.ReplicasOrDefault()
	if total < 0 {
		total = 0
	}
	eligible := selectMembers(fd, cands)
	if spec.ReplicaScheduling.SchedulingTypeOrDefault() == Duplicated {
		var a Assignment
		for _, m := range eligible {
			n := total
			if m.max >= 0 && n > m.max {
				a.Unschedulable += n - m.max
				n = m.max
			}
			if n > 0 {
				a.Shares = append(a.Shares, Share{m.Name, n})
			}
		}
		if len(eligible) == 0 {
			a.Unschedulable = total
		}
		sortShares(a.Shares)
		return a
	}
	return divide(total, eligible)
}

// selectMembers filters candidates by liveness, readiness and placement,
// ranks them and applies MaxClusters (spreading over SpreadByLabel).
func selectMembers(fd *FederatedDeployment, cands []Candidate) []ranked {
	p := &fd.Spec.Placement
	rs := &fd.Spec.ReplicaScheduling
	var sel labels.Selector = labels.Everything()
	if p.ClusterSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
		if err != nil {
			return nil // invalid selector selects nothing (validation refuses it)
		}
		sel = s
	}
	var out []ranked
	for _, c := range cands {
		if !c.Live || !c.Ready || !sel.Matches(labels.Set(c.Labels)) {
			continue
		}
		if len(p.Clusters) > 0 && !slices.Contains(p.Clusters, c.Name) {
			continue
		}
		r := ranked{Candidate: c, score: rank(rankKey(fd), c.DID, c.Name), weight: 1, max: -1}
		for _, w := range rs.Weights {
			if w.Cluster == c.Name {
				r.weight = int64(max(w.Weight, 0))
			}
		}
		for _, l := range rs.Limits {
			if l.Cluster == c.Name {
				r.min = max(l.Min, 0)
				if l.Max > 0 {
					r.max = l.Max
				}
			}
		}
		if c.Capacity >= 0 && (r.max < 0 || c.Capacity < r.max) {
			r.max = c.Capacity
		}
		if rs.CapacityAware {
			r.weight = int64(max(c.Capacity, 0))
			if c.Capacity < 0 {
				r.weight = 1
			}
		}
		if r.max >= 0 && r.min > r.max {
			r.min = r.max
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ranked) int {
		if a.score != b.score {
			if a.score < b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if p.MaxClusters <= 0 || int(p.MaxClusters) >= len(out) {
		return out
	}
	if p.SpreadByLabel == "" {
		return out[:p.MaxClusters]
	}
	// Round-robin over label values (sorted), best-ranked first in each.
	groups := map[string][]ranked{}
	var values []string
	for _, r := range out {
		v := r.Labels[p.SpreadByLabel]
		if _, ok := groups[v]; !ok {
			values = append(values, v)
		}
		groups[v] = append(groups[v], r)
	}
	slices.Sort(values)
	var picked []ranked
	for len(picked) < int(p.MaxClusters) {
		for _, v := range values {
			if len(groups[v]) > 0 && len(picked) < int(p.MaxClusters) {
				picked = append(picked, groups[v][0])
				groups[v] = groups[v][1:]
			}
		}
	}
	slices.SortFunc(picked, func(a, b ranked) int {
		if a.score < b.score {
			return -1
		} else if a.score > b.score {
			return 1
		}
		return 0
	})
	return picked
}

// divide splits total over members by weight within each member's bounds
// (min from limits; max from limits and capacity): bounded proportional
// allocation. Members whose proportional share falls outside their bounds
// are pinned at the bound and the rest is shared again among the others,
// until no share violates a bound; the fractions then go by largest
// remainder (ties by rank). If the minimums alone exceed total, they are
// met in rank order. What fits nowhere is unschedulable.
func divide(total int32, ms []ranked) Assignment {
	n := len(ms)
	got := make([]int64, n)
	pinned := make([]bool, n)
	T := int64(total)
	var sumMin int64
	for _, m := range ms {
		sumMin += int64(m.min)
	}
	if sumMin >= T {
		left := T
		for i, m := range ms {
			got[i] = min(int64(m.min), left)
			left -= got[i]
		}
		return assignment(ms, got, 0)
	}
	for i, m := range ms {
		if m.weight == 0 || m.max == 0 {
			pinned[i], got[i] = true, int64(m.min)
		}
	}
	for {
		P, W := T, int64(0)
		for i, m := range ms {
			if pinned[i] {
				P -= got[i]
			} else {
				W += m.weight
			}
		}
		if W == 0 || P <= 0 {
			break
		}
		// Pin the violations of one kind per round (lower bounds first),
		// so that pinning never overshoots.
		changed := false
		for i, m := range ms {
			if !pinned[i] && P*m.weight < int64(m.min)*W {
				pinned[i], got[i], changed = true, int64(m.min), true
			}
		}
		if !changed {
			for i, m := range ms {
				if !pinned[i] && m.max >= 0 && P*m.weight > int64(m.max)*W {
					pinned[i], got[i], changed = true, int64(m.max), true
				}
			}
		}
		if !changed {
			// Everyone unpinned is within bounds: share P by weight.
			type part struct {
				i    int
				frac int64
			}
			var parts []part
			placed := int64(0)
			for i, m := range ms {
				if pinned[i] {
					continue
				}
				got[i] = P * m.weight / W
				placed += got[i]
				parts = append(parts, part{i, P * m.weight % W})
			}
			slices.SortStableFunc(parts, func(a, b part) int {
				switch {
				case a.frac > b.frac:
					return -1
				case a.frac < b.frac:
					return 1
				}
				return 0
			})
			for _, p := range parts {
				if placed == P {
					break
				}
				if ms[p.i].max < 0 || got[p.i] < int64(ms[p.i].max) {
					got[p.i]++
					placed++
				}
			}
			break
		}
	}
	var sum int64
	for _, g := range got {
		sum += g
	}
	// Members pinned at their minimum may still have room once everyone
	// else is at a bound: hand them the rest, one at a time in rank order.
	for left := T - sum; left > 0; {
		gave := false
		for i, m := range ms {
			if left > 0 && m.weight > 0 && (m.max < 0 || got[i] < int64(m.max)) {
				got[i]++
				left--
				sum++
				gave = true
			}
		}
		if !gave {
			break
		}
	}
	return assignment(ms, got, T-sum)
}

func assignment(ms []ranked, got []int64, unschedulable int64) Assignment {
	var a Assignment
	for i, m := range ms {
		if got[i] > 0 {
			a.Shares = append(a.Shares, Share{m.Name, int32(got[i])})
		}
	}
	a.Unschedulable = int32(max(unschedulable, 0))
	sortShares(a.Shares)
	return a
}

func sortShares(s []Share) {
	slices.SortFunc(s, func(a, b Share) int { return strings.Compare(a.Member, b.Member) })
}
