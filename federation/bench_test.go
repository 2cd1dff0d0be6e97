package federation

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSchedule: one deployment's assignment over N members (what
// every member computes for every deployment each pass).
func BenchmarkSchedule(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			d := fd(int32(n*3), func(d *FederatedDeployment) { d.Spec.ReplicaScheduling.CapacityAware = true })
			cs := cands(n, func(i int, c *Candidate) { c.Capacity = int32(2 + i%7) })
			b.ReportAllocs()
			for b.Loop() {
				Schedule(d, cs)
			}
		})
	}
}

// BenchmarkReconcile: one member's whole pass over D deployments and 20
// members (scheduling each, make-before-break, reports).
func BenchmarkReconcile(b *testing.B) {
	for _, nd := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("deployments=%d", nd), func(b *testing.B) {
			s := newFedSim(&testing.T{}, 20, DefaultEmbeddedConfig(), nil)
			v := View{Self: "m1", Now: time.Now()}
			for i := range nd {
				d := webDeployment(6)
				d.Name = fmt.Sprintf("web-%d", i)
				d.UID = ""
				v.Deployments = append(v.Deployments, d)
			}
			for _, m := range s.members {
				v.Live = append(v.Live, m.name)
				v.Members = append(v.Members, &Member{Spec: MemberSpec{DID: "did:key:" + m.name}})
				v.Members[len(v.Members)-1].Name = m.name
				v.Members[len(v.Members)-1].Status.Conditions = append(v.Members[len(v.Members)-1].Status.Conditions, readyCondition())
			}
			// Every member has reported on every deployment.
			for _, d := range v.Deployments {
				for _, m := range s.members {
					v.Reports = append(v.Reports, PlacementReport{Member: m.name, Deployment: DeploymentKey(d), Capacity: 50, Ready: 1})
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				Reconcile(v)
			}
		})
	}
}
