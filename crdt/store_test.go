package crdt

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

func openTestStore(t testing.TB, dir string, id ReplicaID, mut func(*StoreConfig)) *Store {
	t.Helper()
	cfg := DefaultStoreConfig(dir, id)
	if dir == "" {
		cfg.InMemory = true
	}
	if mut != nil {
		mut(&cfg)
	}
	s, err := OpenStore(cfg)
	require.NoError(t, err)
	return s
}

func TestStoreCRUDAndConflicts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "", "did:key:a", nil)
	defer s.Close()
	k := Key("apps/Deployment/default/web")
	obj, err := s.Create(ctx, k, []byte(`{"spec":{"replicas":1}}`))
	require.NoError(t, err)
	require.EqualValues(t, 1, obj.ResourceVersion)
	require.EqualValues(t, 1, obj.Generation)
	require.JSONEq(t, `{"spec":{"replicas":1}}`, string(obj.Value))

	_, err = s.Create(ctx, k, []byte(`{}`))
	require.ErrorIs(t, err, ErrAlreadyExists)

	upd, err := s.Update(ctx, k, []byte(`{"spec":{"replicas":2}}`), obj.ResourceVersion, true)
	require.NoError(t, err)
	require.Greater(t, upd.ResourceVersion, obj.ResourceVersion)
	require.EqualValues(t, 2, upd.Generation)

	_, err = s.Update(ctx, k, []byte(`{"spec":{"replicas":3}}`), obj.ResourceVersion, true)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce, "stale resourceVersion must conflict")
	require.Equal(t, upd.ResourceVersion, ce.Actual)
	got, err := s.Get(k)
	require.NoError(t, err)
	require.Equal(t, upd, got, "conflicting update changed state")

	_, err = s.Create(ctx, "apps/Deployment/other/x", []byte(`{"a":1}`))
	require.NoError(t, err)
	_, err = s.Create(ctx, "/ConfigMap/default/c", []byte(`{"a":1}`))
	require.NoError(t, err)
	list, rv, err := s.List("apps/Deployment/")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, k, list[0].Key, "list sorted by key")
	require.Equal(t, s.ResourceVersion(), rv)
	_, _, err = s.List("a/b/c/d/e")
	require.ErrorIs(t, err, ErrInvalid)

	del, err := s.Delete(ctx, k, 0)
	require.NoError(t, err)
	require.JSONEq(t, string(upd.Value), string(del.Value), "delete returns the last state")
	_, err = s.Get(k)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Delete(ctx, k, 0)
	require.ErrorIs(t, err, ErrNotFound)

	// Bad input never reaches state.
	for _, bad := range []string{`[]`, `{`, `{"a":1}x`} {
		_, err = s.Create(ctx, "apps/Deployment/default/bad", []byte(bad))
		require.ErrorIs(t, err, ErrInvalid)
	}
	_, err = s.Create(ctx, "bad key", []byte(`{}`))
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.Create(ctx, "apps/Deployment/default/huge", make([]byte, 2<<20))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestStoreBatch(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "", "did:key:a", nil)
	defer s.Close()
	res, err := s.Batch(ctx, []Op{
		{Key: "g/K/ns/a", Value: []byte(`{"a":1}`), Put: PutOptions{Mode: PutCreate}},
		{Key: "g/K/ns/a", Value: []byte(`{"a":2}`), Put: PutOptions{Mode: PutCreate}}, // exists
		{Key: "g/K/ns/b", Value: []byte(`{"b":1}`)},
		{Key: "g/K/ns/a"}, // delete
	})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, ErrAlreadyExists)
	require.NoError(t, res[2].Err)
	require.NoError(t, res[3].Err)
	list, _, err := s.List("")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, Key("g/K/ns/b"), list[0].Key)
}

func TestStoreWatch(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "", "did:key:a", func(c *StoreConfig) { c.WatchHistory = 5 })
	defer s.Close()
	_, err := s.Create(ctx, "g/K/ns/a", []byte(`{"v":0}`))
	require.NoError(t, err)
	_, err = s.Create(ctx, "g/Other/ns/z", []byte(`{"v":0}`))
	require.NoError(t, err)

	w, err := s.Watch(ctx, "g/K/", 0)
	require.NoError(t, err)
	defer w.Stop()
	next := func(w *Watcher) Event {
		select {
		case ev, ok := <-w.Events():
			require.True(t, ok, "watch closed: %v", w.Err())
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return Event{}
	}
	ev := next(w)
	require.Equal(t, EventAdded, ev.Type)
	require.Equal(t, Key("g/K/ns/a"), ev.Object.Key)

	o1, err := s.Update(ctx, "g/K/ns/a", []byte(`{"v":1}`), 0, false)
	require.NoError(t, err)
	_, err = s.Create(ctx, "g/Other/ns/y", []byte(`{}`)) // outside prefix
	require.NoError(t, err)
	o2, err := s.Create(ctx, "g/K/ns/b", []byte(`{"v":1}`))
	require.NoError(t, err)
	_, err = s.Delete(ctx, "g/K/ns/a", 0)
	require.NoError(t, err)
	ev = next(w)
	require.Equal(t, EventModified, ev.Type)
	require.Equal(t, o1.ResourceVersion, ev.Object.ResourceVersion)
	ev = next(w)
	require.Equal(t, EventAdded, ev.Type)
	require.Equal(t, o2, ev.Object)
	ev = next(w)
	require.Equal(t, EventDeleted, ev.Type)
	require.Equal(t, Key("g/K/ns/a"), ev.Object.Key)
	require.Greater(t, ev.Object.ResourceVersion, o2.ResourceVersion)

	// Resume from an older resourceVersion: replays what followed it.
	w2, err := s.Watch(ctx, "g/K/", o1.ResourceVersion)
	require.NoError(t, err)
	defer w2.Stop()
	require.Equal(t, o2.ResourceVersion, next(w2).Object.ResourceVersion)
	require.Equal(t, EventDeleted, next(w2).Type)

	// Push the history past its bound: old resourceVersions are compacted.
	for i := 0; i < 10; i++ {
		_, err = s.Put(ctx, "g/Other/ns/y", []byte(fmt.Sprintf(`{"i":%d}`, i)), PutOptions{})
		require.NoError(t, err)
	}
	_, err = s.Watch(ctx, "", o1.ResourceVersion)
	require.ErrorIs(t, err, ErrCompacted)
	_, err = s.Watch(ctx, "", s.ResourceVersion()+10)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestStoreSlowWatcherIsTerminated(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "", "did:key:a", func(c *StoreConfig) { c.WatchQueue = 8 })
	defer s.Close()
	w, err := s.Watch(ctx, "", 0)
	require.NoError(t, err)
	for i := 0; i < 200; i++ {
		_, err := s.Put(ctx, "g/K/ns/a", []byte(fmt.Sprintf(`{"i":%d}`, i)), PutOptions{})
		require.NoError(t, err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				require.ErrorIs(t, w.Err(), ErrWatchOverflow)
				return
			}
		case <-deadline:
			t.Fatal("slow watcher never terminated")
		}
	}
}

func TestStoreRestartRestoresEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	peer := ReplicaID("did:key:peer")
	s := openTestStore(t, dir, "did:key:a", nil)
	require.NoError(t, s.SetPeers(ctx, []ReplicaID{peer}))
	for i := 0; i < 50; i++ {
		_, err := s.Put(ctx, Key(fmt.Sprintf("g/K/ns/o%d", i%7)), []byte(fmt.Sprintf(`{"i":%d}`, i)), PutOptions{})
		require.NoError(t, err)
	}
	_, err := s.Delete(ctx, "g/K/ns/o3", 0)
	require.NoError(t, err)
	before, rv, err := s.List("")
	require.NoError(t, err)
	var ctxBefore *Context
	var bufBefore int
	require.NoError(t, s.Inspect(ctx, func(r *Replica) { ctxBefore, bufBefore = r.Context(), len(r.Buffer()) }))
	deltaBefore, err := s.DeltaFor(ctx, peer)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s = openTestStore(t, dir, "did:key:a", nil)
	defer s.Close()
	after, rv2, err := s.List("")
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.Equal(t, rv, rv2)
	require.NoError(t, s.Inspect(ctx, func(r *Replica) {
		require.True(t, ctxBefore.Equal(r.Context()), "causal context not restored")
		require.Len(t, r.Buffer(), bufBefore, "delta buffer not restored")
	}))
	deltaAfter, err := s.DeltaFor(ctx, peer)
	require.NoError(t, err)
	a, err := EncodeMessage(deltaBefore)
	require.NoError(t, err)
	b, err := EncodeMessage(deltaAfter)
	require.NoError(t, err)
	require.Equal(t, a, b, "the peer is owed the same deltas after restart")
	obj, err := s.Put(ctx, "g/K/ns/new", []byte(`{}`), PutOptions{})
	require.NoError(t, err)
	require.Equal(t, rv+1, obj.ResourceVersion, "sequence continues after restart")
}

func TestStoreCorruptRecordNamesKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir, "did:key:a", nil)
	_, err := s.Create(ctx, "g/K/ns/good", []byte(`{"a":1}`))
	require.NoError(t, err)
	_, err = s.Create(ctx, "g/K/ns/victim", []byte(`{"a":1}`))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	require.NoError(t, err)
	require.NoError(t, db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefixDoc + "g/K/ns/victim"))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)-1] ^= 0x40 // one flipped bit
		return txn.Set([]byte(prefixDoc+"g/K/ns/victim"), v)
	}))
	require.NoError(t, db.Close())

	_, err = OpenStore(DefaultStoreConfig(dir, "did:key:a"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "g/K/ns/victim")
	require.Contains(t, err.Error(), "checksum mismatch")
}

// TestStoresReplicate runs two durable stores against each other through
// the Store's replication entry points and the wire encoding.
// openPeeredStores opens two durable stores that know each other as peers;
// the test's cleanup closes them.
func openPeeredStores(t *testing.T) (a, b *Store) {
	t.Helper()
	ctx := context.Background()
	a = openTestStore(t, t.TempDir(), "did:key:a", nil)
	t.Cleanup(func() { a.Close() })
	b = openTestStore(t, t.TempDir(), "did:key:b", nil)
	t.Cleanup(func() { b.Close() })
	ids := []ReplicaID{a.ID(), b.ID()}
	require.NoError(t, a.SetPeers(ctx, ids))
	require.NoError(t, b.SetPeers(ctx, ids))
	return a, b
}

func TestStoresReplicate(t *testing.T) {
	ctx := context.Background()
	a, b := openPeeredStores(t)
	stores := map[ReplicaID]*Store{a.ID(): a, b.ID(): b}
	// exchange delivers m to its peer and bounces replies until done.
	var exchange func(to *Store, m Message)
	exchange = func(to *Store, m Message) {
		raw, err := EncodeMessage(m)
		require.NoError(t, err)
		dm, err := DecodeMessage(raw, DefaultLimits())
		require.NoError(t, err)
		reply, err := to.Step(ctx, dm)
		require.NoError(t, err)
		if reply != nil {
			exchange(stores[m.Sender()], reply)
		}
	}
	_, err := a.Create(ctx, "g/K/ns/x", []byte(`{"spec":{"a":1}}`))
	require.NoError(t, err)
	_, err = b.Create(ctx, "g/K/ns/y", []byte(`{"spec":{"b":1}}`))
	require.NoError(t, err)
	w, err := b.Watch(ctx, "g/K/ns/x", 0)
	require.NoError(t, err)
	defer w.Stop()

	m, err := a.DeltaFor(ctx, b.ID())
	require.NoError(t, err)
	exchange(b, m)
	select {
	case ev := <-w.Events():
		require.Equal(t, EventAdded, ev.Type)
		require.JSONEq(t, `{"spec":{"a":1}}`, string(ev.Object.Value))
	case <-time.After(5 * time.Second):
		t.Fatal("remote change not delivered to watcher")
	}
	// After the ack, a has nothing more for b.
	m, err = a.DeltaFor(ctx, b.ID())
	require.NoError(t, err)
	require.Nil(t, m)

	d, err := b.StartRepair(ctx, a.ID())
	require.NoError(t, err)
	exchange(a, d)
	la, _, _ := a.List("")
	lb, _, _ := b.List("")
	require.Len(t, la, 2)
	require.Equal(t, values(la), values(lb))
}

func values(objs []Object) map[Key]string {
	out := map[Key]string{}
	for _, o := range objs {
		var v any
		_ = json.Unmarshal(o.Value, &v)
		b, _ := json.Marshal(v)
		out[o.Key] = string(b)
	}
	return out
}

func TestStoreOpenErrors(t *testing.T) {
	_, err := OpenStore(DefaultStoreConfig("", "did:key:a"))
	require.Error(t, err)
	_, err = OpenStore(DefaultStoreConfig(t.TempDir(), ""))
	require.Error(t, err)
	dir := t.TempDir()
	s := openTestStore(t, dir, "did:key:a", nil)
	defer s.Close()
	_, err = OpenStore(DefaultStoreConfig(dir, "did:key:a"))
	require.Error(t, err, "a second process must not open a store in use")
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = OpenStore(DefaultStoreConfig(file, "did:key:a"))
	require.Error(t, err)
}

func TestStoreWatchLargeSnapshotIsNotAnOverflow(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "", "did:key:a", func(c *StoreConfig) { c.WatchQueue = 4 })
	defer s.Close()
	var ops []Op
	for i := 0; i < 50; i++ {
		ops = append(ops, Op{Key: Key(fmt.Sprintf("g/K/ns/o%02d", i)), Value: []byte(`{}`)})
	}
	_, err := s.Batch(ctx, ops)
	require.NoError(t, err)
	w, err := s.Watch(ctx, "", 0)
	require.NoError(t, err)
	defer w.Stop()
	_, err = s.Put(ctx, "g/K/ns/late", []byte(`{}`), PutOptions{})
	require.NoError(t, err)
	for i := 0; i < 51; i++ {
		select {
		case _, ok := <-w.Events():
			require.True(t, ok, "watch ended after %d events: %v", i, w.Err())
		case <-time.After(5 * time.Second):
			t.Fatal("event missing")
		}
	}
}

// The commit observer hears of each batch that changed the replica, with
// whether it took a synced write: a new delta does, the same delta again
// changes nothing the store keeps and does not.
func TestStoreObservesCommits(t *testing.T) {
	ctx := context.Background()
	a, b := openPeeredStores(t)
	_, err := a.Create(ctx, "g/K/ns/x", []byte(`{"spec":{"a":1}}`))
	require.NoError(t, err)
	d, err := a.DeltaFor(ctx, b.ID())
	require.NoError(t, err)
	require.NotNil(t, d)

	type commit struct {
		d      time.Duration
		synced bool
	}
	var seen []commit
	b.ObserveCommits(func(d time.Duration, synced bool) { seen = append(seen, commit{d, synced}) })
	_, err = b.Step(ctx, d)
	require.NoError(t, err)
	_, err = b.Step(ctx, d)
	require.NoError(t, err)
	// Step returns once the batch is committed, after the observer ran.
	require.Len(t, seen, 2)
	require.True(t, seen[0].synced, "a new delta is written")
	require.Positive(t, seen[0].d)
	require.False(t, seen[1].synced, "a duplicate changes nothing kept")

	b.ObserveCommits(nil)
	_, err = b.Create(ctx, "g/K/ns/y", []byte(`{"spec":{"b":1}}`))
	require.NoError(t, err)
	require.Len(t, seen, 2, "a detached observer hears nothing")
	got, err := b.Get("g/K/ns/x")
	require.NoError(t, err)
	require.JSONEq(t, `{"spec":{"a":1}}`, string(got.Value))
}

// Badger reports a memtable flush only in its log; the store counts the
// flushes from it, so a harness can tell when flushes shared its disk.
func TestStoreCountsMemtableFlushes(t *testing.T) {
	s := openTestStore(t, t.TempDir(), "a", nil)
	require.Zero(t, s.MemtableFlushes())
	big := strings.Repeat("x", 256<<10)
	ctx := context.Background()
	for i := 0; i < 200 && s.MemtableFlushes() == 0; i++ {
		v := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c%d"},"data":{"x":%q}}`, i, big)
		_, err := s.Put(ctx, Key(fmt.Sprintf("/ConfigMap/default/c%d", i)), []byte(v), PutOptions{})
		require.NoError(t, err)
	}
	require.Positive(t, s.MemtableFlushes(), "writing well past a 16 MB memtable flushes it")
}

// CollectGarbage reports what it collected and what still waits, which a
// live peer that has not seen the delete holds back.
func TestStoreCollectGarbageReportsHeldTombstones(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir(), "did:key:a", nil)
	defer s.Close()
	k := Key("apps/Deployment/default/web")
	_, err := s.Create(ctx, k, []byte(`{"spec":{"replicas":1}}`))
	require.NoError(t, err)
	_, err = s.Delete(ctx, k, 0)
	require.NoError(t, err)

	// A live peer that never reported: nothing is stable.
	require.NoError(t, s.SetPeers(ctx, []ReplicaID{"did:key:a", "did:key:b"}))
	collected, held, err := s.CollectGarbage(ctx)
	require.NoError(t, err)
	require.Zero(t, collected)
	require.Equal(t, 1, held)

	// Alone again: the tombstone goes within a few runs (the first
	// checkpoints this member's report, a later one bounds by it).
	require.NoError(t, s.SetPeers(ctx, []ReplicaID{"did:key:a"}))
	total := 0
	require.Eventually(t, func() bool {
		c, h, err := s.CollectGarbage(ctx)
		require.NoError(t, err)
		total += c
		return h == 0
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, total)
	_, err = s.Get(k)
	require.ErrorIs(t, err, ErrNotFound)
}
