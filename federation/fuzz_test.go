package federation

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// Federation objects arrive from any member through the store: their
// decoders must refuse junk without panicking, and whatever they accept
// must be usable by the scheduler.
func FuzzDecodeDeployment(f *testing.F) {
	good, err := json.Marshal(webDeployment(3))
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"spec":{"replicas":-1}}`))
	f.Add([]byte(`{"spec":{"placement":{"clusterSelector":{"matchExpressions":[{"key":"a","operator":"In"}]}}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDeployment(crdt.Object{Key: "federation.lattice.dev/FederatedDeployment/default/web", Generation: 1, Value: b})
		if err != nil {
			return
		}
		require.Equal(t, "web", d.Name)
		a := Schedule(d, cands(5))
		require.Equal(t, d.Spec.ReplicasOrDefault(), a.Total()+a.Unschedulable)
	})
}

func FuzzDecodePlacement(f *testing.F) {
	good, err := json.Marshal(PlacementStatus{Spec: PlacementReport{Member: "m1", Deployment: "default/web", Desired: 2}})
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"spec":{"member":"m2","deployment":"default/web"}}`))
	f.Add([]byte(`{"spec":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodePlacement(crdt.Object{Key: "federation.lattice.dev/PlacementStatus/default/web.m1", Value: b})
		if err != nil {
			return
		}
		require.Equal(t, "m1", r.Member, "a report is accepted only under its own member's key")
		require.Equal(t, "default/web", r.Deployment)
	})
}

func FuzzDecodeMember(f *testing.F) {
	good, err := json.Marshal(Member{Spec: MemberSpec{DID: "did:key:z6Mk"}})
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"metadata":{"name":"other"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMember(crdt.Object{Key: "federation.lattice.dev/Member//m1", Value: b})
		if err != nil {
			return
		}
		require.Equal(t, "m1", m.Name)
		_ = MemberReady(m)
	})
}
