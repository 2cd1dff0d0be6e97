package crdt

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// typicalDeployment is a Deployment-sized API object as kubectl sends it.
const typicalDeployment = `{"apiVersion":"federation.lattice.dev/v1alpha1","kind":"FederatedDeployment",
"metadata":{"name":"web","namespace":"default","uid":"6f1c2a0e-3b7d-4c55-9a1e-2f6d8c4b7a10",
"creationTimestamp":"2026-11-25T12:00:00Z","labels":{"app":"web","tier":"frontend","team":"payments"},
"annotations":{"lattice.dev/owner":"platform","kubectl.kubernetes.io/last-applied-configuration":"{}"}},
"spec":{"replicas":6,"template":{"metadata":{"labels":{"app":"web","tier":"frontend"}},
"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.24.3","ports":[{"containerPort":8080,"protocol":"TCP"}],
"resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},
"env":[{"name":"MODE","value":"production"},{"name":"LOG_LEVEL","value":"info"}],
"readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":5}}],
"terminationGracePeriodSeconds":30}},
"placement":{"clusterSelector":{"matchLabels":{"region":"eu-west"}},"maxClusters":3,"spreadBy":"zone"},
"replicaScheduling":{"type":"Divided","weights":{"member-1":2,"member-2":1},"minPerCluster":1},
"overrides":[{"cluster":"member-2","path":"/spec/replicas","value":2}]},
"status":{"observedGeneration":4,"replicas":6,"readyReplicas":6,
"members":{"member-1":{"desired":4,"ready":4,"unschedulable":0},"member-2":{"desired":2,"ready":2,"unschedulable":0}},
"conditions":[{"type":"Available","status":"True","lastTransitionTime":"2026-11-25T12:01:00Z"}]}}`

func compactJSON(tb testing.TB, s string) []byte {
	obj, err := decodeObject([]byte(s), DefaultLimits())
	require.NoError(tb, err)
	return appendJSONValue(nil, obj)
}

// metadataOverhead is the encoded state size over the raw JSON size, for an
// object created by one writer and then edited by three others.
func metadataOverhead(tb testing.TB) (created, edited float64) {
	raw := compactJSON(tb, typicalDeployment)
	vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
	a := newTestReplica(tb, "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", skewedClock{vt: vt}, nil)
	key := Key("federation.lattice.dev/FederatedDeployment/default/web")
	_, err := a.Put(key, raw, PutOptions{})
	require.NoError(tb, err)
	doc, _, _ := a.Get(key)
	enc, err := doc.MarshalBinary()
	require.NoError(tb, err)
	created = float64(len(enc)) / float64(len(raw))
	edits := []string{`"replicas":6`, `"readyReplicas":6`, `"cpu":"250m"`}
	repl := []string{`"replicas":7`, `"readyReplicas":5`, `"cpu":"300m"`}
	for i := range edits {
		vt.now = vt.now.Add(time.Second)
		w := newTestReplica(tb, ReplicaID(fmt.Sprintf("did:key:z6MkwriterNumber%dXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", i)), skewedClock{vt: vt}, nil)
		d, _, _ := a.Get(key)
		w.docs[key] = &keyState{doc: d.Clone()}
		next := []byte(replaceOnce(string(d.JSON()), edits[i], repl[i]))
		u, err := w.Put(key, next, PutOptions{BumpGeneration: true})
		require.NoError(tb, err)
		_, _, err = a.ApplyDelta(&DeltaMsg{From: w.ID(), Docs: u.Entry.Docs, Dots: u.Entry.Dots})
		require.NoError(tb, err)
	}
	doc, _, _ = a.Get(key)
	enc, err = doc.MarshalBinary()
	require.NoError(tb, err)
	edited = float64(len(enc)) / float64(len(doc.JSON()))
	return created, edited
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("pattern not found: " + old)
}

func TestMetadataOverheadTarget(t *testing.T) {
	created, edited := metadataOverhead(t)
	t.Logf("encoded/raw JSON: %.3f created, %.3f after edits by 3 more writers", created, edited)
	require.LessOrEqual(t, created, 1.5)
	require.LessOrEqual(t, edited, 1.5)
}

func BenchmarkMetadataOverhead(b *testing.B) {
	var created, edited float64
	for i := 0; i < b.N; i++ {
		created, edited = metadataOverhead(b)
	}
	b.ReportMetric(created, "ratio-created")
	b.ReportMetric(edited, "ratio-edited")
}

// fieldDeltas builds n single-field deltas from another writer against the
// typical object, each a separate document as a peer would send them.
func fieldDeltas(b *testing.B, n int) (*Document, []*Document) {
	vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
	a := newTestReplica(b, "did:key:a", skewedClock{vt: vt}, nil)
	key := Key("g/K/ns/o")
	_, err := a.Put(key, compactJSON(b, typicalDeployment), PutOptions{})
	require.NoError(b, err)
	base, _, _ := a.Get(key)
	w := newTestReplica(b, "did:key:w", skewedClock{vt: vt}, nil)
	w.docs[key] = &keyState{doc: base.Clone()}
	deltas := make([]*Document, 0, n)
	for i := 0; i < n; i++ {
		vt.now = vt.now.Add(time.Millisecond)
		d, _, _ := w.Get(key)
		next := []byte(replaceOnce(string(d.JSON()), fmt.Sprintf(`"maxClusters":%d`, 3+i), fmt.Sprintf(`"maxClusters":%d`, 4+i)))
		u, err := w.Put(key, next, PutOptions{})
		require.NoError(b, err)
		deltas = append(deltas, u.Entry.Docs[0].Doc)
	}
	return base, deltas
}

// BenchmarkMergeFieldDelta: joining one single-field delta into a
// Deployment-sized document (the Document.merge core).
func BenchmarkMergeFieldDelta(b *testing.B) {
	base, deltas := fieldDeltas(b, 1024)
	doc := base.Clone()
	ctx := NewContext()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		doc.merge(deltas[i%len(deltas)], ctx)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "field-deltas/s")
}

// BenchmarkApplyDelta: a replica joining a peer's delta message of 256
// keys with 4 changed fields each, including copy-on-write, dots and the
// delta buffer (no persistence).
func BenchmarkApplyDelta(b *testing.B) {
	const keys, fields = 256, 4
	vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
	w := newTestReplica(b, "did:key:w", skewedClock{vt: vt}, nil)
	raw := compactJSON(b, typicalDeployment)
	var msgs []*DeltaMsg
	for round := 0; round < 8; round++ {
		m := &DeltaMsg{From: w.ID()}
		for k := 0; k < keys; k++ {
			key := Key(fmt.Sprintf("g/K/ns/o%d", k))
			vt.now = vt.now.Add(time.Millisecond)
			obj := raw
			if round > 0 {
				for f := 0; f < fields; f++ {
					obj = []byte(replaceOnce(string(obj), fmt.Sprintf(`"member-%d":`, f%2+1), fmt.Sprintf(`"member-%d-%d-%d":`, f%2+1, round, f)))
				}
			}
			u, err := w.Put(key, obj, PutOptions{})
			require.NoError(b, err)
			m.Docs = append(m.Docs, u.Entry.Docs...)
			m.Dots = append(m.Dots, u.Entry.Dots...)
		}
		msgs = append(msgs, m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var merged int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newTestReplica(b, "did:key:r", skewedClock{vt: vt}, nil)
		b.StartTimer()
		for _, m := range msgs {
			if _, _, err := r.ApplyDelta(m); err != nil {
				b.Fatal(err)
			}
			merged += len(m.Docs)
		}
	}
	b.ReportMetric(float64(merged)/b.Elapsed().Seconds(), "keys/s")
}

func benchStore(b *testing.B) *Store {
	s, err := OpenStore(DefaultStoreConfig(b.TempDir(), "did:key:bench"))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkStorePutSynced: one synced write at a time.
func BenchmarkStorePutSynced(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	val := compactJSON(b, typicalDeployment)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Put(ctx, Key(fmt.Sprintf("g/K/ns/o%d", i)), val, PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkStorePutBatched: Batch calls of 128 puts, each one synced
// commit. Two callers at a time, as API handlers would, so parsing on the
// callers' goroutines overlaps the committer. Objects are the 2 KB
// Deployment-sized one and a small (~250 B) ConfigMap-like one.
func BenchmarkStorePutBatched(b *testing.B) {
	objects := []struct {
		name string
		json string
	}{
		{"deployment-2KB", typicalDeployment},
		{"small-250B", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default",
"labels":{"app":"web"}},"data":{"mode":"production","level":"info","region":"eu-west","zone":"eu-west-1a"}}`},
	}
	for _, o := range objects {
		b.Run(o.name, func(b *testing.B) { benchBatched(b, compactJSON(b, o.json)) })
	}
}

func benchBatched(b *testing.B, val []byte) {
	s := benchStore(b)
	ctx := context.Background()
	const batch = 128
	var seq atomic.Int64
	b.SetParallelism(1)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ops := make([]Op, 0, batch)
		flush := func() {
			res, err := s.Batch(ctx, ops)
			if err != nil {
				b.Error(err)
			}
			for _, r := range res {
				if r.Err != nil {
					b.Error(r.Err)
				}
			}
			ops = ops[:0]
		}
		for pb.Next() {
			ops = append(ops, Op{Key: Key(fmt.Sprintf("g/K/ns/o%d", seq.Add(1))), Value: val})
			if len(ops) == batch {
				flush()
			}
		}
		if len(ops) > 0 {
			flush()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkStorePutConcurrent: 64 concurrent writers; group commit shares
// each fsync among whoever is waiting.
func BenchmarkStorePutConcurrent(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	val := compactJSON(b, typicalDeployment)
	b.SetParallelism(32)
	var n int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		id := fmt.Sprintf("%p", &i)
		for pb.Next() {
			i++
			if _, err := s.Put(ctx, Key(fmt.Sprintf("g/K/ns/o%s-%d", id, i)), val, PutOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	_ = n
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkDigestCompare: the responder's side of a repair between two
// replicas of n keys that differ in 10: bucket hashes, comparison, and the
// key list of differing buckets (leaf hashes cached, as in steady state).
func BenchmarkDigestCompare(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
			a := newTestReplica(b, "did:key:a", skewedClock{vt: vt}, nil)
			c := newTestReplica(b, "did:key:c", skewedClock{vt: vt}, nil)
			for i := 0; i < n; i++ {
				u, err := a.Put(Key(fmt.Sprintf("g/K/ns/o%d", i)), []byte(fmt.Sprintf(`{"spec":{"i":%d,"image":"web:1"}}`, i)), PutOptions{})
				require.NoError(b, err)
				if i%(n/10) != 0 { // c misses 10 keys
					_, _, err = c.ApplyDelta(&DeltaMsg{From: a.ID(), Docs: u.Entry.Docs, Dots: u.Entry.Dots})
					require.NoError(b, err)
				}
			}
			d := a.StartRepair(c.ID())
			raw, err := EncodeMessage(d)
			require.NoError(b, err)
			b.ReportMetric(float64(len(raw)), "digest-bytes")
			start := time.Now()
			_, _, err = c.HandleDigest(d) // computes and caches c's leaf hashes
			require.NoError(b, err)
			cold := time.Since(start)
			b.ResetTimer()
			var keys int
			for i := 0; i < b.N; i++ {
				_, reply, err := c.HandleDigest(d)
				if err != nil {
					b.Fatal(err)
				}
				keys = len(reply.Keys)
			}
			b.ReportMetric(float64(keys), "keys-shipped")
			b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
		})
	}
}

// BenchmarkDecodeDelta: decoding a delta of 64 typical deployments, each
// written by two operations, as a receiver does for every message.
func BenchmarkDecodeDelta(b *testing.B) {
	vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
	w := newTestReplica(b, "did:key:w", skewedClock{vt: vt}, nil)
	w.SetPeers([]ReplicaID{"did:key:r"})
	raw := compactJSON(b, typicalDeployment)
	for k := 0; k < 64; k++ {
		key := Key(fmt.Sprintf("g/K/ns/o%d", k))
		for round := range 2 {
			vt.now = vt.now.Add(time.Millisecond)
			obj := []byte(replaceOnce(string(raw), `"member-1":`, fmt.Sprintf(`"member-1-%d":`, round)))
			_, err := w.Put(key, obj, PutOptions{})
			require.NoError(b, err)
		}
	}
	m, err := w.DeltaFor("did:key:r")
	require.NoError(b, err)
	enc, err := EncodeMessage(m)
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeMessage(enc, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectGarbage is one tombstone collection run by a member of
// a federation of n, every member a writer whose report it holds, with
// 100 tombstones not yet stable: what the committer is blocked for every
// GC interval once every live peer has reported. With ids=copies every
// report names the writers in strings of its own (IDs decoded without a
// shared intern table), so comparing two IDs reads both.
func BenchmarkCollectGarbage(b *testing.B) {
	for _, bc := range []struct {
		n      int
		copies bool
	}{{100, false}, {1000, false}, {1000, true}, {3000, false}} {
		n := bc.n
		name := fmt.Sprintf("members=%d", n)
		if bc.copies {
			name += "/ids=copies"
		}
		b.Run(name, func(b *testing.B) {
			vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
			self := ReplicaID(fmt.Sprintf("did:key:z6Mk%044d", 0))
			r := newTestReplica(b, self, skewedClock{vt: vt}, nil)
			live := []ReplicaID{self}
			for i := 1; i < n; i++ {
				live = append(live, ReplicaID(fmt.Sprintf("did:key:z6Mk%044d", i)))
			}
			r.SetPeers(live)
			const tombs = 100
			reportedAt := r.clock.Now()
			vt.now = vt.now.Add(time.Second)
			for i := range tombs {
				key := Key(fmt.Sprintf("test.lattice.dev/Thing/ns/obj-%d", i))
				_, err := r.Put(key, []byte(`{"kind":"Thing"}`), PutOptions{})
				require.NoError(b, err)
				_, err = r.Delete(key, 0)
				require.NoError(b, err)
			}
			var vv VersionVector
			for _, id := range live {
				vv.Set(id, 10)
			}
			vv.Set(self, 2*tombs)
			r.ctx.VV.Merge(vv)
			for _, id := range live[1:] {
				rep := vv.Clone()
				if bc.copies {
					for i := range rep.e {
						rep.e[i].id = ReplicaID(strings.Clone(string(rep.e[i].id)))
					}
				}
				ps := r.peers[id]
				ps.reported, ps.rep = true, peerReport{vv: rep, clock: reportedAt}
			}
			r.CollectGarbage() // checkpoints every member
			b.ResetTimer()
			for b.Loop() {
				if u := r.CollectGarbage(); len(u.Changes) != 0 {
					b.Fatal("collected a tombstone newer than every report")
				}
			}
			require.Equal(b, tombs, r.Tombstones())
		})
	}
}
