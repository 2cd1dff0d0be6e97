package federation

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lattice-federation/lattice/crdt"
)

type alertSink struct {
	mu     sync.Mutex
	alerts []Alert
}

func (s *alertSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a Alert
	b, _ := io.ReadAll(r.Body)
	if json.Unmarshal(b, &a) != nil {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.alerts = append(s.alerts, a)
	s.mu.Unlock()
}

func (s *alertSink) get() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Alert(nil), s.alerts...)
}

// The controller end to end on one member (real store, embedded cluster,
// fake clock): it places what fits, reports the rest unschedulable, and
// as the SLO owner raises the SLOViolated alert once replicas stay
// unschedulable too long, then the resolved alert with the reaction time.
func TestControllerSLOAlerts(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := crdt.DefaultStoreConfig(t.TempDir(), "m1")
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := crdt.OpenStore(cfg)
	require.NoError(t, err)
	defer st.Close()
	small := DefaultEmbeddedConfig()
	small.Nodes, small.NodeCPU, small.StartDelay = 1, resource.MustParse("1"), time.Second
	cluster, err := NewEmbedded(small, clock)
	require.NoError(t, err)
	sink := &alertSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	cc := DefaultControllerConfig()
	cc.Member, cc.DID, cc.Store, cc.Driver = "m1", "did:key:m1", st, cluster
	cc.Live = func() []string { return []string{"m1"} }
	cc.Now, cc.Registry, cc.Logger = clock, reg, cfg.Logger
	ctl, err := NewController(cc)
	require.NoError(t, err)

	put := func(replicas int32) {
		d := webDeployment(replicas)
		d.TypeMeta = metav1.TypeMeta{APIVersion: APIVersion, Kind: KindFederatedDeployment}
		d.UID, d.Generation = "", 0
		d.Spec.SLO = &SLO{MaxUnschedulableSeconds: 5, Webhooks: []string{srv.URL}}
		b, err := json.Marshal(d)
		require.NoError(t, err)
		_, err = st.Put(ctx, "federation.lattice.dev/FederatedDeployment/default/web", b, crdt.PutOptions{BumpGeneration: true})
		require.NoError(t, err)
	}
	put(6)
	step := func(d time.Duration) {
		now = now.Add(d)
		require.NoError(t, ctl.ReconcileOnce(ctx))
	}
	step(0)
	step(2 * time.Second)
	ws, _ := cluster.Workloads(ctx)
	require.Equal(t, int32(4), ws[0].Ready)
	require.Equal(t, int32(4), ws[0].Desired, "the scheduler asks only for what fits")
	key, _ := PlacementStoreKey("default", "web", "m1")
	o, err := st.Get(key)
	require.NoError(t, err)
	rep, err := DecodePlacement(o)
	require.NoError(t, err)
	require.Equal(t, int32(2), rep.Shortfall)
	require.Equal(t, int32(4), rep.Capacity)
	require.NotNil(t, rep.UnschedulableSince)
	require.Empty(t, sink.get(), "not yet past maxUnschedulableSeconds")

	step(5 * time.Second)
	require.Eventually(t, func() bool { return len(sink.get()) == 1 }, 5*time.Second, 10*time.Millisecond)
	a := sink.get()[0]
	require.Equal(t, "violated", a.State)
	require.Equal(t, "default/web", a.Deployment)
	require.Contains(t, a.Reason, "unschedulable for")
	require.Equal(t, 1.0, testutil.ToFloat64(ctl.metrics.violations))

	// Asking only for what fits ends the violation.
	put(4)
	step(time.Second)
	require.Eventually(t, func() bool { return len(sink.get()) == 2 }, 5*time.Second, 10*time.Millisecond)
	a = sink.get()[1]
	require.Equal(t, "resolved", a.State)
	require.InDelta(t, 1.0, a.DurationSeconds, 0.001)
	require.Equal(t, 1, testutil.CollectAndCount(ctl.metrics.reaction))
	// The sink records an alert when its request arrives; the sender
	// counts it once the response is back.
	require.Eventually(t, func() bool { return testutil.ToFloat64(ctl.metrics.alerts.WithLabelValues("ok")) == 2 },
		5*time.Second, 10*time.Millisecond)

	// Deleting the deployment removes the workload and this member's report.
	_, err = st.Delete(ctx, "federation.lattice.dev/FederatedDeployment/default/web", 0)
	require.NoError(t, err)
	step(time.Second)
	ws, _ = cluster.Workloads(ctx)
	require.Empty(t, ws)
	_, err = st.Get(key)
	require.ErrorIs(t, err, crdt.ErrNotFound)

	// The Member object is published with a heartbeat and the incarnation.
	mk, _ := MemberStoreKey("m1")
	mo, err := st.Get(mk)
	require.NoError(t, err)
	m, err := DecodeMember(mo)
	require.NoError(t, err)
	require.True(t, MemberReady(m))
	require.Equal(t, ctl.incarnation, m.Status.Incarnation)
	require.Equal(t, "did:key:m1", m.Spec.DID)
}

func TestValidateFederatedDeployment(t *testing.T) {
	good := webDeployment(3)
	require.Empty(t, ValidateFederatedDeployment(good))
	bad := webDeployment(-1)
	bad.Name = "Bad_Name"
	bad.Spec.ReplicaScheduling.Type = "Sometimes"
	bad.Spec.ReplicaScheduling.Limits = []ClusterLimit{{Cluster: "m1", Min: 5, Max: 2}}
	bad.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Sometimes"}}}
	bad.Spec.SLO = &SLO{Webhooks: []string{"ftp://x"}}
	bad.Spec.Template.Template.Spec.Containers[0].Image = ""
	errs := ValidateFederatedDeployment(bad)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	for _, f := range []string{"metadata.name", "spec.replicas", "spec.replicaScheduling.type", "spec.replicaScheduling.limits[0].max",
		"spec.slo.webhooks[0]", "spec.template.template.spec.containers[0].image", "spec.placement.clusterSelector.matchExpressions[0].operator"} {
		require.Contains(t, fields, f)
	}
}
