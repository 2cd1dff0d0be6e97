package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/ledger"
)

var fdGVR = GroupVersion.WithResource("federateddeployments")

// testServer runs a standalone server over an in-memory store.
type testServer struct {
	store *crdt.Store
	srv   *Server
	cfg   *rest.Config
	dyn   *dynamic.DynamicClient

	mu   sync.Mutex
	live []string
}

func (ts *testServer) setLive(l ...string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.live = l
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	scfg := crdt.DefaultStoreConfig("", "member-1")
	scfg.InMemory = true
	store, err := crdt.OpenStore(scfg)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	creds, err := EnsureCredentials(t.TempDir(), nil)
	require.NoError(t, err)
	ts := &testServer{store: store, live: []string{"member-1"}}
	cfg := DefaultConfig()
	cfg.Store, cfg.Credentials = store, creds
	cfg.Live = func() []string {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return append([]string(nil), ts.live...)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	ts.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	ts.cfg = &rest.Config{Host: "https://" + srv.Addr(), BearerToken: creds.Token, TLSClientConfig: rest.TLSClientConfig{CAData: creds.CA}, QPS: -1}
	ts.dyn, err = dynamic.NewForConfig(ts.cfg)
	require.NoError(t, err)
	// Ready once /readyz answers.
	hc, err := rest.HTTPClientFor(ts.cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := hc.Get(ts.cfg.Host + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	return ts
}

func fdObject(name string, replicas int32) *federation.FederatedDeployment {
	labels := map[string]string{"app": name}
	return &federation.FederatedDeployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindFederatedDeployment},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"tier": "web"}},
		Spec: federation.FederatedDeploymentSpec{
			Replicas: &replicas,
			Template: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
				},
			},
		},
	}
}

func toUnstructured(t testing.TB, o runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	require.NoError(t, err)
	return &unstructured.Unstructured{Object: m}
}

func fromUnstructured(t testing.TB, u *unstructured.Unstructured) *federation.FederatedDeployment {
	t.Helper()
	var fd federation.FederatedDeployment
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &fd))
	return &fd
}

func putReport(t testing.TB, s *crdt.Store, member, ns, name string, desired, ready int32) {
	t.Helper()
	key, err := federation.PlacementStoreKey(ns, name, member)
	require.NoError(t, err)
	p := federation.PlacementStatus{
		TypeMeta: metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindPlacementStatus},
		Spec: federation.PlacementReport{Member: member, Deployment: ns + "/" + name, Incarnation: "i1",
			ObservedGeneration: 1, Assigned: desired, Desired: desired, Ready: ready, Updated: metav1.Now()},
	}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	_, err = s.Put(context.Background(), key, b, crdt.PutOptions{})
	require.NoError(t, err)
}

func TestDiscoveryAndAuth(t *testing.T) {
	ts := startServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(ts.cfg)
	require.NoError(t, err)
	rl, err := dc.ServerResourcesForGroupVersion(GroupVersion.String())
	require.NoError(t, err)
	got := map[string]metav1.APIResource{}
	for _, r := range rl.APIResources {
		got[r.Name] = r
	}
	for _, name := range []string{"federateddeployments", "federateddeployments/status", "federateddeployments/scale", "members", "identities", "ledgerentries"} {
		assert.Contains(t, got, name)
	}
	assert.True(t, got["federateddeployments"].Namespaced)
	assert.False(t, got["members"].Namespaced)
	assert.Contains(t, got["federateddeployments"].ShortNames, "fd")
	assert.ElementsMatch(t, []string{"get"}, []string(got["federateddeployments/status"].Verbs))
	assert.NotContains(t, got["members"].Verbs, "create")
	assert.Contains(t, got["federateddeployments"].Verbs, "patch")

	// No token and a wrong token are 401; health probes need none.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, tok := range []string{"", "wrong-token"} {
		req, _ := http.NewRequest(http.MethodGet, ts.cfg.Host+"/apis/"+GroupVersion.String()+"/namespaces/default/federateddeployments", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "token %q", tok)
	}
	resp, err := hc.Get(ts.cfg.Host + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// OpenAPI v3 describes the type (kubectl explain reads it).
	rc, err := rest.HTTPClientFor(ts.cfg)
	require.NoError(t, err)
	resp, err = rc.Get(ts.cfg.Host + "/openapi/v3/apis/" + GroupVersion.String())
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Contains(t, string(doc.Components.Schemas["dev.lattice.federation.v1alpha1.FederatedDeployment"]), "x-kubernetes-group-version-kind")
}

func TestDeploymentCRUD(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.dyn.Resource(fdGVR).Namespace("default")

	created, err := c.Create(ctx, toUnstructured(t, fdObject("web", 3)), metav1.CreateOptions{})
	require.NoError(t, err)
	fd := fromUnstructured(t, created)
	assert.NotEmpty(t, fd.UID)
	assert.Equal(t, int64(1), fd.Generation)
	assert.False(t, fd.CreationTimestamp.IsZero())

	_, err = c.Create(ctx, toUnstructured(t, fdObject("web", 3)), metav1.CreateOptions{})
	assert.True(t, apierrors.IsAlreadyExists(err), "%v", err)

	// Invalid: 422 naming the field.
	bad := fdObject("bad", 1)
	bad.Spec.Template.Template.Spec.Containers = nil
	_, err = c.Create(ctx, toUnstructured(t, bad), metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), "spec.template.template.spec.containers")
	neg := fdObject("neg", -1)
	_, err = c.Create(ctx, toUnstructured(t, neg), metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), "spec.replicas")

	// Update bumps generation only on spec changes; a stale RV is a 409.
	got, err := c.Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	stale := got.DeepCopy()
	require.NoError(t, unstructured.SetNestedField(got.Object, int64(5), "spec", "replicas"))
	upd, err := c.Update(ctx, got, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), upd.GetGeneration())
	require.NoError(t, unstructured.SetNestedField(stale.Object, int64(7), "spec", "replicas"))
	_, err = c.Update(ctx, stale, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsConflict(err), "%v", err)
	upd.SetLabels(map[string]string{"tier": "web", "x": "y"})
	upd2, err := c.Update(ctx, upd, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), upd2.GetGeneration(), "a metadata change keeps the generation")

	// Merge patch and strategic merge patch.
	p, err := c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	r, _, _ := unstructured.NestedInt64(p.Object, "spec", "replicas")
	assert.Equal(t, int64(4), r)
	_, err = c.Patch(ctx, "web", types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	// Too large for the store (1.5 MiB objects) or for a request (3 MiB): 413.
	big := fdObject("big", 1)
	big.Spec.Template.Template.Spec.Containers[0].Args = []string{strings.Repeat("x", 2<<20)}
	_, err = c.Create(ctx, toUnstructured(t, big), metav1.CreateOptions{})
	require.True(t, apierrors.IsRequestEntityTooLargeError(err), "%v", err)
	big.Spec.Template.Template.Spec.Containers[0].Args = []string{strings.Repeat("x", 4<<20)}
	_, err = c.Create(ctx, toUnstructured(t, big), metav1.CreateOptions{})
	require.True(t, apierrors.IsRequestEntityTooLargeError(err), "%v", err)
	// Defaults are filled in.
	def := fdObject("defaulted", 1)
	def.Spec.Replicas = nil
	dd := fromUnstructured(t, must(c.Create(ctx, toUnstructured(t, def), metav1.CreateOptions{})))
	require.NotNil(t, dd.Spec.Replicas)
	assert.Equal(t, int32(1), *dd.Spec.Replicas)
	assert.Equal(t, federation.Divided, dd.Spec.ReplicaScheduling.Type)
	require.NoError(t, c.Delete(ctx, "defaulted", metav1.DeleteOptions{}))
	// Server-side apply.
	applied := fdObject("api", 2)
	applied.Spec.Template.Template.Spec.Containers[0].Image = "api:1"
	b, err := json.Marshal(applied)
	require.NoError(t, err)
	_, err = c.Patch(ctx, "api", types.ApplyPatchType, b, metav1.PatchOptions{FieldManager: "test"})
	require.NoError(t, err)
	a, err := c.Get(ctx, "api", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, a.GetManagedFields())

	// Status is aggregated from live members' reports.
	putReport(t, ts.store, "member-1", "default", "web", 4, 4)
	putReport(t, ts.store, "member-2", "default", "web", 2, 2)
	ts.setLive("member-1")
	w := fromUnstructured(t, must(c.Get(ctx, "web", metav1.GetOptions{})))
	assert.Equal(t, int32(4), w.Status.ReadyReplicas, "member-2 is not live: its report does not count")
	ts.setLive("member-1", "member-2")
	w = fromUnstructured(t, must(c.Get(ctx, "web", metav1.GetOptions{})))
	assert.Equal(t, int32(6), w.Status.ReadyReplicas)
	assert.Len(t, w.Status.Members, 2)
	// A changed report is decoded again (the cache is by resourceVersion),
	// on get and on list.
	putReport(t, ts.store, "member-1", "default", "web", 4, 1)
	w = fromUnstructured(t, must(c.Get(ctx, "web", metav1.GetOptions{})))
	assert.Equal(t, int32(3), w.Status.ReadyReplicas)
	for _, it := range must(c.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=web"})).Items {
		assert.Equal(t, int32(3), fromUnstructured(t, &it).Status.ReadyReplicas)
	}

	// Selectors and pagination.
	l, err := c.List(ctx, metav1.ListOptions{LabelSelector: "patched=yes"})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	assert.Equal(t, "web", l.Items[0].GetName())
	l, err = c.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=api"})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	_, err = c.List(ctx, metav1.ListOptions{FieldSelector: "spec.nope=1"})
	assert.True(t, apierrors.IsBadRequest(err), "%v", err)
	page, err := c.List(ctx, metav1.ListOptions{Limit: 1})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.NotEmpty(t, page.GetContinue())
	page2, err := c.List(ctx, metav1.ListOptions{Limit: 1, Continue: page.GetContinue()})
	require.NoError(t, err)
	require.Len(t, page2.Items, 1)
	assert.NotEqual(t, page.Items[0].GetName(), page2.Items[0].GetName())
	assert.Empty(t, page2.GetContinue())
	_, err = c.List(ctx, metav1.ListOptions{Limit: 1, Continue: "garbage"})
	assert.True(t, apierrors.IsBadRequest(err), "%v", err)

	// Delete, with a stale precondition first.
	staleRV := "1"
	err = c.Delete(ctx, "web", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &staleRV}})
	assert.True(t, apierrors.IsConflict(err), "%v", err)
	require.NoError(t, c.Delete(ctx, "web", metav1.DeleteOptions{}))
	_, err = c.Get(ctx, "web", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestScaleSubresource(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.dyn.Resource(fdGVR).Namespace("default")
	_, err := c.Create(ctx, toUnstructured(t, fdObject("web", 3)), metav1.CreateOptions{})
	require.NoError(t, err)
	u, err := c.Get(ctx, "web", metav1.GetOptions{}, "scale")
	require.NoError(t, err)
	var sc autoscalingv1.Scale
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &sc))
	assert.Equal(t, int32(3), sc.Spec.Replicas)
	assert.Equal(t, "app=web", sc.Status.Selector)
	_, err = c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":9}}`), metav1.PatchOptions{}, "scale")
	require.NoError(t, err)
	fd := fromUnstructured(t, must(c.Get(ctx, "web", metav1.GetOptions{})))
	assert.Equal(t, int32(9), *fd.Spec.Replicas)
	assert.Equal(t, int64(2), fd.Generation)
	_, err = c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":-2}}`), metav1.PatchOptions{}, "scale")
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
	_, err = c.Patch(ctx, "web", types.MergePatchType, []byte(`{"status":{"replicas":1}}`), metav1.PatchOptions{}, "status")
	assert.True(t, apierrors.IsMethodNotSupported(err), "status is read-only: %v", err)
}

func nextEvent(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		require.True(t, ok, "watch closed")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
	}
	return watch.Event{}
}

func TestWatch(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.dyn.Resource(fdGVR).Namespace("default")
	_, err := c.Create(ctx, toUnstructured(t, fdObject("web", 2)), metav1.CreateOptions{})
	require.NoError(t, err)
	l, err := c.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)

	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion()})
	require.NoError(t, err)
	defer w.Stop()
	_, err = c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	ev := nextEvent(t, w)
	assert.Equal(t, watch.Modified, ev.Type)
	r, _, _ := unstructured.NestedInt64(ev.Object.(*unstructured.Unstructured).Object, "spec", "replicas")
	assert.Equal(t, int64(5), r)
	last := ev.Object.(*unstructured.Unstructured).GetResourceVersion()

	// A member's report changes the status: MODIFIED with it.
	putReport(t, ts.store, "member-1", "default", "web", 5, 5)
	ev = nextEvent(t, w)
	assert.Equal(t, watch.Modified, ev.Type)
	ready, _, _ := unstructured.NestedInt64(ev.Object.(*unstructured.Unstructured).Object, "status", "readyReplicas")
	assert.Equal(t, int64(5), ready)
	assert.Greater(t, rvOf(t, ev), must(parseRV(last)))

	require.NoError(t, c.Delete(ctx, "web", metav1.DeleteOptions{}))
	ev = nextEvent(t, w)
	assert.Equal(t, watch.Deleted, ev.Type)
	assert.Equal(t, "web", ev.Object.(*unstructured.Unstructured).GetName())

	// From "0": synthetic ADDED for what exists, then a field-selected
	// stream; and sendInitialEvents ends its listing with a bookmark.
	_, err = c.Create(ctx, toUnstructured(t, fdObject("a", 1)), metav1.CreateOptions{})
	require.NoError(t, err)
	w2, err := c.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=a"})
	require.NoError(t, err)
	defer w2.Stop()
	ev = nextEvent(t, w2)
	assert.Equal(t, watch.Added, ev.Type)
	yes := true
	w3, err := c.Watch(ctx, metav1.ListOptions{SendInitialEvents: &yes, AllowWatchBookmarks: true, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	require.NoError(t, err)
	defer w3.Stop()
	assert.Equal(t, watch.Added, nextEvent(t, w3).Type)
	bm := nextEvent(t, w3)
	require.Equal(t, watch.Bookmark, bm.Type)
	assert.Equal(t, "true", bm.Object.(*unstructured.Unstructured).GetAnnotations()[metav1.InitialEventsAnnotationKey])

	// A resourceVersion ahead of the store is refused.
	_, err = c.Watch(ctx, metav1.ListOptions{ResourceVersion: "999999"})
	assert.Error(t, err)
}

func rvOf(t testing.TB, ev watch.Event) uint64 {
	t.Helper()
	return must(parseRV(ev.Object.(*unstructured.Unstructured).GetResourceVersion()))
}

func TestMembersIdentitiesLedger(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	id, err := identity.Generate()
	require.NoError(t, err)
	m := federation.Member{
		TypeMeta:   metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindMember},
		ObjectMeta: metav1.ObjectMeta{Name: "member-1", Labels: map[string]string{federation.LabelRegion: "eu"}},
		Spec:       federation.MemberSpec{DID: id.DID(), Cluster: "embedded"},
	}
	key, err := federation.MemberStoreKey("member-1")
	require.NoError(t, err)
	_, err = ts.store.Put(ctx, key, must(json.Marshal(m)), crdt.PutOptions{})
	require.NoError(t, err)

	feed := ledger.NewFeed(id)
	for i, typ := range []string{ledger.TypeDIDRegistration, ledger.TypeCredential} {
		e, err := feed.Append(typ, []byte(fmt.Sprintf(`{"n":%d}`, i)), crdt.MakeTimestamp(time.Now().UnixMilli(), 0))
		require.NoError(t, err)
		k, err := ledger.EntryKey(e.Author, e.Seq)
		require.NoError(t, err)
		_, err = ts.store.Create(ctx, k, must(ledger.EntryObject(e)))
		require.NoError(t, err)
	}

	mem, err := ts.dyn.Resource(GroupVersion.WithResource("members")).Get(ctx, "member-1", metav1.GetOptions{})
	require.NoError(t, err)
	conds, _, _ := unstructured.NestedSlice(mem.Object, "status", "conditions")
	require.Len(t, conds, 1)
	assert.Equal(t, "True", conds[0].(map[string]any)["status"], "member-1 is in the live view")

	ids, err := ts.dyn.Resource(GroupVersion.WithResource("identities")).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, ids.Items, 1)
	idObj := ids.Items[0]
	assert.Equal(t, strings.ReplaceAll(id.DID(), ":", "-"), idObj.GetName())
	n, _, _ := unstructured.NestedInt64(idObj.Object, "status", "ledgerEntries")
	assert.Equal(t, int64(2), n)
	memName, _, _ := unstructured.NestedString(idObj.Object, "status", "member")
	assert.Equal(t, "member-1", memName)

	le := ts.dyn.Resource(GroupVersion.WithResource("ledgerentries"))
	entries, err := le.List(ctx, metav1.ListOptions{FieldSelector: "spec.type=credential"})
	require.NoError(t, err)
	require.Len(t, entries.Items, 1)
	verified, _, _ := unstructured.NestedBool(entries.Items[0].Object, "spec", "verified")
	assert.True(t, verified)
	_, err = le.Get(ctx, entries.Items[0].GetName(), metav1.GetOptions{})
	require.NoError(t, err)
	_, err = le.Get(ctx, "did-key-bogus.1", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "%v", err)

	// Read-only resources refuse writes.
	_, err = le.Create(ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": federation.APIVersion, "kind": "LedgerEntry", "metadata": map[string]any{"name": "x"}}}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsMethodNotSupported(err), "%v", err)
}

var _ = schema.GroupVersion{}
