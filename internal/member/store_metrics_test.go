package member

import (
	"context"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// Synced commits show up on the registry as lattice_store_commit_seconds
// {synced="true"}; once stopped, the observer no longer counts.
func TestStoreCommitsAreExported(t *testing.T) {
	st, err := crdt.OpenStore(crdt.DefaultStoreConfig(t.TempDir(), "did:key:a"))
	require.NoError(t, err)
	defer st.Close()
	reg := prometheus.NewRegistry()
	stop := observeStoreCommits(st, reg)
	ctx := context.Background()
	for i := range 3 {
		_, err := st.Put(ctx, "g/K/ns/x", []byte(`{"spec":{"i":`+strconv.Itoa(i)+`}}`), crdt.PutOptions{})
		require.NoError(t, err)
	}
	synced := func() uint64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != "lattice_store_commit_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "true" {
					require.Positive(t, m.GetHistogram().GetSampleSum())
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
		return 0
	}
	require.EqualValues(t, 3, synced())
	stop()
	_, err = st.Put(ctx, "g/K/ns/x", []byte(`{"spec":{"i":9}}`), crdt.PutOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 3, synced())
}
