package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
)

// populate stores n FederatedDeployments, each with a report from three
// members (what a running federation holds).
func populate(b *testing.B, s *crdt.Store, n int) {
	b.Helper()
	ctx := context.Background()
	members := []string{"member-1", "member-2", "member-3"}
	var ops []crdt.Op
	flush := func() {
		res, err := s.Batch(ctx, ops)
		require.NoError(b, err)
		for _, r := range res {
			require.NoError(b, r.Err)
		}
		ops = ops[:0]
	}
	for i := range n {
		fd := fdObject(fmt.Sprintf("app-%05d", i), 3)
		fd.UID = types.UID(fmt.Sprintf("uid-%d", i))
		v, err := storedForm(fd)
		require.NoError(b, err)
		key, _ := deploymentKey("default", fd.Name)
		ops = append(ops, crdt.Op{Key: key, Value: v, Put: crdt.PutOptions{Mode: crdt.PutCreate, BumpGeneration: true}})
		for _, m := range members {
			k, _ := federation.PlacementStoreKey("default", fd.Name, m)
			p := federation.PlacementStatus{TypeMeta: metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindPlacementStatus},
				Spec: federation.PlacementReport{Member: m, Deployment: "default/" + fd.Name, Incarnation: "i", ObservedGeneration: 1, Assigned: 1, Desired: 1, Ready: 1}}
			pv, _ := json.Marshal(p)
			ops = append(ops, crdt.Op{Key: k, Value: pv})
		}
		if len(ops) >= 2000 {
			flush()
		}
	}
	if len(ops) > 0 {
		flush()
	}
}

// BenchmarkList lists every FederatedDeployment over HTTPS as JSON (the
// whole server path: storage, status aggregation, encoding, TLS).
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			ts := startServer(b)
			ts.setLive("member-1", "member-2", "member-3")
			populate(b, ts.store, n)
			hc, err := rest.HTTPClientFor(ts.cfg)
			require.NoError(b, err)
			url := ts.cfg.Host + "/apis/" + GroupVersion.String() + "/namespaces/default/federateddeployments"
			var bytes int64
			b.ResetTimer()
			for b.Loop() {
				resp, err := hc.Get(url)
				require.NoError(b, err)
				nb, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.NoError(b, err)
				require.Equal(b, http.StatusOK, resp.StatusCode)
				bytes = nb
			}
			b.ReportMetric(float64(bytes), "bytes/list")
		})
	}
}

// BenchmarkWatchLatency measures the time from a write to the store until
// a watching client (client-go over HTTPS) has the event, with 1,000
// objects stored; p50 and p99 are reported.
func BenchmarkWatchLatency(b *testing.B) {
	ts := startServer(b)
	populate(b, ts.store, 1000)
	ctx := context.Background()
	c := ts.dyn.Resource(fdGVR).Namespace("default")
	l, err := c.List(ctx, metav1.ListOptions{Limit: 1})
	require.NoError(b, err)
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion()})
	require.NoError(b, err)
	defer w.Stop()
	key, _ := deploymentKey("default", "app-00007")
	var lat []time.Duration
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		fd := fdObject("app-00007", int32(i%1000+1))
		v, err := storedForm(fd)
		require.NoError(b, err)
		start := time.Now()
		_, err = ts.store.Update(ctx, key, v, 0, true)
		require.NoError(b, err)
		select {
		case <-w.ResultChan():
		case <-time.After(10 * time.Second):
			b.Fatal("no watch event")
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
