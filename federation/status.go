package federation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AggregateStatus computes a FederatedDeployment's status from the
// members' reports, as seen by a member whose liveness view is live
// (sorted) at now. Only live members' reports count: a dead member's last
// report describes replicas no one can vouch for.
func AggregateStatus(d *FederatedDeployment, reports []PlacementReport, live []string, now time.Time) FederatedDeploymentStatus {
	key := DeploymentKey(d)
	st := FederatedDeploymentStatus{ObservedGeneration: -1}
	var unschedSince *time.Time
	var shortfall int32
	for _, r := range reports {
		if r.Deployment != key {
			continue
		}
		if _, ok := slices.BinarySearch(live, r.Member); !ok {
			continue
		}
		shortfall = max(shortfall, r.Shortfall)
		if r.UnschedulableSince != nil && (unschedSince == nil || r.UnschedulableSince.Time.Before(*unschedSince)) {
			t := r.UnschedulableSince.Time
			unschedSince = &t
		}
		if r.Desired == 0 && r.Ready == 0 && r.Unschedulable == 0 {
			continue
		}
		st.Members = append(st.Members, MemberReplicaStatus{Member: r.Member, Desired: r.Desired, Ready: r.Ready, Unschedulable: r.Unschedulable})
		st.Replicas += r.Desired
		st.ReadyReplicas += r.Ready
		st.UnschedulableReplicas += r.Unschedulable
		if st.ObservedGeneration < 0 || r.ObservedGeneration < st.ObservedGeneration {
			st.ObservedGeneration = r.ObservedGeneration
		}
	}
	st.UnschedulableReplicas += shortfall
	if st.ObservedGeneration < 0 {
		st.ObservedGeneration = 0
	}
	slices.SortFunc(st.Members, func(a, b MemberReplicaStatus) int { return strings.Compare(a.Member, b.Member) })
	want := d.Spec.ReplicasOrDefault()
	if d.Spec.ReplicaScheduling.SchedulingTypeOrDefault() == Duplicated {
		want = max(st.Replicas, want)
	}
	cond := func(t string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: d.Generation, LastTransitionTime: metav1.NewTime(now)}
	}
	avail := st.ReadyReplicas >= want && want > 0 || want == 0
	st.Conditions = append(st.Conditions,
		cond(ConditionAvailable, avail, map[bool]string{true: "MinimumReplicasAvailable", false: "MinimumReplicasUnavailable"}[avail],
			fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)),
		cond(ConditionScheduled, st.UnschedulableReplicas == 0, map[bool]string{true: "AllScheduled", false: "Unschedulable"}[st.UnschedulableReplicas == 0],
			fmt.Sprintf("%d replicas unschedulable", st.UnschedulableReplicas)))
	if d.Spec.SLO != nil {
		violated, reason := EvaluateSLO(d.Spec.SLO, st, unschedSince, now)
		st.Conditions = append(st.Conditions, cond(ConditionSLOViolated, violated, map[bool]string{true: "SLOViolated", false: "SLOMet"}[violated], reason))
	}
	return st
}

// EvaluateSLO checks a status against an SLO at now; unschedulableSince is
// the oldest start of unschedulable replicas (nil: none).
func EvaluateSLO(slo *SLO, st FederatedDeploymentStatus, unschedulableSince *time.Time, now time.Time) (bool, string) {
	var why []string
	if slo.MinAvailable > 0 && st.ReadyReplicas < slo.MinAvailable {
		why = append(why, fmt.Sprintf("%d ready replicas, fewer than minAvailable %d", st.ReadyReplicas, slo.MinAvailable))
	}
	if slo.MaxUnschedulableSeconds > 0 && unschedulableSince != nil {
		if d := now.Sub(*unschedulableSince); d > time.Duration(slo.MaxUnschedulableSeconds)*time.Second {
			why = append(why, fmt.Sprintf("replicas unschedulable for %s, longer than %ds", d.Round(time.Second), slo.MaxUnschedulableSeconds))
		}
	}
	if len(why) == 0 {
		return false, "all service levels met"
	}
	return true, strings.Join(why, "; ")
}
