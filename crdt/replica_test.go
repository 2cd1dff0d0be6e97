package crdt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// virtualTime is a shared virtual clock; each replica reads it with its own
// skew, as real members would.
type virtualTime struct{ now time.Time }

type skewedClock struct {
	vt   *virtualTime
	skew time.Duration
}

func (c skewedClock) Now() time.Time { return c.vt.now.Add(c.skew) }

func newTestReplica(t testing.TB, id ReplicaID, phys PhysicalClock, mut func(*ReplicaConfig)) *Replica {
	t.Helper()
	cfg := DefaultReplicaConfig(id, NewClock(phys, DefaultMaxDrift))
	cfg.Volatile = true // no store persists Meta here
	if mut != nil {
		mut(&cfg)
	}
	r, err := NewReplica(cfg)
	require.NoError(t, err)
	return r
}

// envelope is a message in flight.
type envelope struct {
	to  int
	raw []byte
}

// testNet runs replicas over a lossy, reordering, duplicating network, with
// every message going through the real wire encoding.
type testNet struct {
	t      testing.TB
	rng    *rand.Rand
	vt     *virtualTime
	reps   []*Replica
	queue  []envelope
	loss   float64
	dup    float64
	errors map[string]int
	// oracle is the join of every local delta ever produced, per key: the
	// state all replicas must converge to (before tombstone collection).
	oracle map[Key]*Document
}

func newTestNet(t testing.TB, seed uint64, n int, mut func(*ReplicaConfig)) *testNet {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
	tn := &testNet{t: t, rng: rng, vt: vt, errors: map[string]int{}, oracle: map[Key]*Document{}}
	ids := make([]ReplicaID, n)
	for i := range ids {
		ids[i] = ReplicaID(fmt.Sprintf("did:key:r%d", i))
	}
	for i := range ids {
		skew := time.Duration(rng.IntN(400)-200) * time.Millisecond
		r := newTestReplica(t, ids[i], skewedClock{vt: vt, skew: skew}, mut)
		r.SetPeers(ids)
		tn.reps = append(tn.reps, r)
	}
	return tn
}

func (tn *testNet) index(id ReplicaID) int {
	for i, r := range tn.reps {
		if r.ID() == id {
			return i
		}
	}
	tn.t.Fatalf("unknown replica %s", id)
	return -1
}

func (tn *testNet) send(to int, m Message) {
	raw, err := EncodeMessage(m)
	require.NoError(tn.t, err)
	tn.queue = append(tn.queue, envelope{to: to, raw: raw})
}

// deliver hands one message to its destination and queues the reply.
func (tn *testNet) deliver(e envelope) {
	m, err := DecodeMessage(e.raw, DefaultLimits())
	require.NoError(tn.t, err)
	_, reply, err := tn.reps[e.to].Step(m)
	if err != nil {
		// Lossy delivery legitimately orphans repair replies.
		require.ErrorIs(tn.t, err, ErrUnknownSession)
		tn.errors["unknown-session"]++
		return
	}
	if reply != nil {
		tn.send(tn.index(m.Sender()), reply)
	}
}

// deliverSome delivers up to k random in-flight messages, losing and
// duplicating some.
func (tn *testNet) deliverSome(k int, lossy bool) {
	for ; k > 0 && len(tn.queue) > 0; k-- {
		i := tn.rng.IntN(len(tn.queue))
		e := tn.queue[i]
		tn.queue = slices.Delete(tn.queue, i, i+1)
		if lossy && tn.rng.Float64() < tn.loss {
			continue
		}
		if lossy && tn.rng.Float64() < tn.dup {
			tn.queue = append(tn.queue, e)
		}
		tn.deliver(e)
	}
}

func (tn *testNet) drain() {
	for len(tn.queue) > 0 {
		tn.deliverSome(len(tn.queue), false)
	}
}

// gossip pushes deltas from replica i to j, or repairs when i's buffer no
// longer covers j.
func (tn *testNet) gossip(i, j int) {
	m, err := tn.reps[i].DeltaFor(tn.reps[j].ID())
	if errors.Is(err, ErrNeedRepair) {
		tn.send(j, tn.reps[i].StartRepair(tn.reps[j].ID()))
		return
	}
	require.NoError(tn.t, err)
	if m != nil {
		tn.send(j, m)
	}
}

func (tn *testNet) recordOracle(key Key, u Update) {
	if u.Entry == nil || u.Entry.From != "" {
		return
	}
	for _, kd := range u.Entry.Docs {
		o := tn.oracle[kd.Key]
		if o == nil {
			o = NewDocument()
			tn.oracle[kd.Key] = o
		}
		o.merge(kd.Doc, nil)
	}
}

var testKeys = []Key{"apps/Deployment/default/web", "apps/Deployment/default/api", "federation.lattice.dev/Member//m1", "/ConfigMap/kube-system/cfg"}

// randomEdit returns a new object from the current one (nil when absent)
// with random field edits, the way clients edit what they read.
func randomEdit(rng *rand.Rand, cur []byte) []byte {
	obj := map[string]any{}
	if cur != nil {
		if err := json.Unmarshal(cur, &obj); err != nil {
			panic(err)
		}
	}
	ensure := func(m map[string]any, k string) map[string]any {
		c, ok := m[k].(map[string]any)
		if !ok {
			c = map[string]any{}
			m[k] = c
		}
		return c
	}
	for n := 1 + rng.IntN(3); n > 0; n-- {
		switch rng.IntN(9) {
		case 0:
			ensure(obj, "spec")["replicas"] = rng.IntN(10)
		case 1:
			ensure(ensure(obj, "spec"), "template")["image"] = fmt.Sprintf("nginx:1.%d", rng.IntN(30))
		case 2:
			ensure(ensure(obj, "metadata"), "labels")[fmt.Sprintf("l%d", rng.IntN(4))] = fmt.Sprintf("v%d", rng.IntN(5))
		case 3:
			if l, ok := ensure(obj, "metadata")["labels"].(map[string]any); ok {
				delete(l, fmt.Sprintf("l%d", rng.IntN(4)))
			}
		case 4:
			ensure(obj, "spec")["ports"] = []any{rng.IntN(3) + 80, 443}
		case 5:
			delete(obj, "spec")
		case 6:
			obj["status"] = rng.IntN(2) == 0 // scalar where others write maps
		case 7:
			ensure(obj, "status")["ready"] = rng.IntN(5)
		case 8:
			ensure(obj, "spec")["template"] = map[string]any{}
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return b
}

// randomOp performs one local operation on a random replica.
func (tn *testNet) randomOp() {
	r := tn.reps[tn.rng.IntN(len(tn.reps))]
	key := testKeys[tn.rng.IntN(len(testKeys))]
	doc, _, _ := r.Get(key)
	var cur []byte
	if doc != nil {
		cur = doc.JSON()
	}
	if cur != nil && tn.rng.IntN(6) == 0 {
		u, err := r.Delete(key, 0)
		require.NoError(tn.t, err)
		tn.recordOracle(key, u)
		return
	}
	u, err := r.Put(key, randomEdit(tn.rng, cur), PutOptions{BumpGeneration: tn.rng.IntN(3) == 0})
	require.NoError(tn.t, err)
	tn.recordOracle(key, u)
}

// repairAll runs reliable digest repairs between every ordered pair until
// all digests agree (size-capped repairs take several rounds), then one more
// pass, in which every repair is in sync and contexts are adopted.
func (tn *testNet) repairAll() {
	pass := func() {
		for i := range tn.reps {
			for j := range tn.reps {
				if i != j {
					tn.send(j, tn.reps[i].StartRepair(tn.reps[j].ID()))
					tn.drain()
				}
			}
		}
	}
	for round := 0; round < 100 && !tn.digestsAgree(); round++ {
		pass()
	}
	pass()
}

func (tn *testNet) digestsAgree() bool {
	want := tn.reps[0].Digest(6)
	for _, r := range tn.reps[1:] {
		if !slices.Equal(want, r.Digest(6)) {
			return false
		}
	}
	return true
}

// stateOf returns the canonical encoding of every key a replica holds.
func stateOf(t testing.TB, r *Replica) map[Key]string {
	out := map[Key]string{}
	for _, k := range r.Keys() {
		doc, _, _ := r.Get(k)
		b, err := doc.MarshalBinary()
		require.NoError(t, err)
		out[k] = string(b)
	}
	return out
}

func requireConverged(t testing.TB, tn *testNet, seed uint64) {
	t.Helper()
	want := stateOf(t, tn.reps[0])
	for _, r := range tn.reps[1:] {
		require.Equal(t, want, stateOf(t, r), "seed %d: %s diverges from %s", seed, r.ID(), tn.reps[0].ID())
		require.Equal(t, tn.reps[0].Digest(4), r.Digest(4), "seed %d: digests differ", seed)
	}
}

func TestReplicaConvergenceProperty(t *testing.T) {
	for seed := uint64(1); seed <= replicaPropSeeds(60); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			n := 3 + rng.IntN(5)
			maxBuf := 1 << 16
			if seed%3 == 0 {
				maxBuf = 2 + rng.IntN(6) // force buffer pruning and repair
			}
			maxDelta := 4 << 20
			if seed%4 == 1 {
				maxDelta = 300 // split delta messages and repairs across rounds
			}
			tn := newTestNet(t, seed, n, func(c *ReplicaConfig) { c.MaxBufferEntries, c.MaxDeltaBytes = maxBuf, maxDelta })
			tn.loss, tn.dup = 0.2, 0.15
			for step := 0; step < 300; step++ {
				tn.vt.now = tn.vt.now.Add(time.Duration(tn.rng.IntN(30)) * time.Millisecond)
				switch x := tn.rng.IntN(10); {
				case x < 5:
					tn.randomOp()
				case x < 8:
					i, j := tn.rng.IntN(n), tn.rng.IntN(n)
					if i != j {
						tn.gossip(i, j)
					}
				case x < 9:
					i, j := tn.rng.IntN(n), tn.rng.IntN(n)
					if i != j {
						tn.send(j, tn.reps[i].StartRepair(tn.reps[j].ID()))
					}
				default:
					tn.deliverSome(1+tn.rng.IntN(8), true)
				}
			}
			// Some messages are still in flight and will arrive late.
			tn.deliverSome(len(tn.queue)/2, true)
			tn.repairAll()
			requireConverged(t, tn, seed)
			// Without collection, converged state is exactly the join of
			// every write ever made.
			for _, k := range tn.reps[0].Keys() {
				doc, _, _ := tn.reps[0].Get(k)
				require.True(t, tn.oracle[k].Equal(doc), "seed %d key %s: state is not the join of all writes", seed, k)
			}
			require.Len(t, tn.reps[0].Keys(), len(tn.oracle), "seed %d", seed)

			// Collect tombstones once everyone reported, then keep going.
			values := map[Key]string{}
			for _, k := range tn.reps[0].Keys() {
				doc, _, _ := tn.reps[0].Get(k)
				values[k] = string(doc.JSON())
			}
			tn.vt.now = tn.vt.now.Add(5 * time.Second)
			tn.exchangeReports()
			for _, r := range tn.reps {
				r.CollectGarbage()
			}
			tn.repairAll()
			requireConverged(t, tn, seed)
			for _, k := range tn.reps[0].Keys() {
				doc, _, _ := tn.reps[0].Get(k)
				require.False(t, doc.hasTombstones(), "seed %d key %s: stable tombstone kept", seed, k)
				require.Equal(t, values[k], string(doc.JSON()), "seed %d key %s: collection changed the value", seed, k)
			}
			for k, v := range values {
				if v == "" {
					_, _, ok := tn.reps[0].Get(k)
					require.False(t, ok, "seed %d: deleted key %s not collected", seed, k)
				}
			}
		})
	}
}

// exchangeReports makes every replica ack every other, so each knows the
// others' version vectors and clocks.
func (tn *testNet) exchangeReports() {
	for i, r := range tn.reps {
		r.SetPeers(tn.ids())
		for j := range tn.reps {
			if i != j {
				tn.send(j, r.Ack(0))
			}
		}
	}
	tn.drain()
}

// writeThenDelete makes replica i write key and, a second later, delete
// it, each spread to every replica; then 5 s pass.
func (tn *testNet) writeThenDelete(i int, key Key) {
	_, err := tn.reps[i].Put(key, []byte(`{"x":1}`), PutOptions{})
	require.NoError(tn.t, err)
	tn.spreadAll()
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = tn.reps[i].Delete(key, 0)
	require.NoError(tn.t, err)
	tn.spreadAll()
	tn.vt.now = tn.vt.now.Add(5 * time.Second)
}

// spreadAll gossips from every replica to every other and delivers
// everything.
func (tn *testNet) spreadAll() {
	for i := range tn.reps {
		for j := range tn.reps {
			if i != j {
				tn.gossip(i, j)
			}
		}
	}
	tn.drain()
}

func (tn *testNet) ids() []ReplicaID {
	out := make([]ReplicaID, len(tn.reps))
	for i, r := range tn.reps {
		out[i] = r.ID()
	}
	return out
}

func TestConcurrentFieldEditsBothSurvive(t *testing.T) {
	tn := newTestNet(t, 7, 2, nil)
	a, b := tn.reps[0], tn.reps[1]
	key := testKeys[0]
	_, err := a.Put(key, []byte(`{"spec":{"replicas":1,"image":"v1"},"metadata":{"labels":{"x":"1"}}}`), PutOptions{})
	require.NoError(t, err)
	tn.gossip(0, 1)
	tn.drain()
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = a.Put(key, []byte(`{"spec":{"replicas":5,"image":"v1"},"metadata":{"labels":{"x":"1"}}}`), PutOptions{BumpGeneration: true})
	require.NoError(t, err)
	_, err = b.Put(key, []byte(`{"spec":{"replicas":1,"image":"v2"},"metadata":{"labels":{"x":"1","y":"2"}}}`), PutOptions{BumpGeneration: true})
	require.NoError(t, err)
	tn.gossip(0, 1)
	tn.gossip(1, 0)
	tn.drain()
	for _, r := range tn.reps {
		doc, _, ok := r.Get(key)
		require.True(t, ok)
		require.JSONEq(t, `{"spec":{"replicas":5,"image":"v2"},"metadata":{"labels":{"x":"1","y":"2"}}}`, string(doc.JSON()))
		// Generation: 1 at create, +1 from each concurrent spec edit.
		require.EqualValues(t, 3, doc.Generation())
	}
}

func TestDeleteVersusConcurrentUpdateByHLC(t *testing.T) {
	tn := newTestNet(t, 8, 2, nil)
	a, b := tn.reps[0], tn.reps[1]
	key := testKeys[0]
	_, err := a.Put(key, []byte(`{"spec":{"replicas":1}}`), PutOptions{})
	require.NoError(t, err)
	tn.gossip(0, 1)
	tn.drain()

	// b updates, then (later by HLC) a deletes: the delete wins.
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = b.Put(key, []byte(`{"spec":{"replicas":2}}`), PutOptions{})
	require.NoError(t, err)
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = a.Delete(key, 0)
	require.NoError(t, err)
	tn.gossip(0, 1)
	tn.gossip(1, 0)
	tn.drain()
	for _, r := range tn.reps {
		doc, _, _ := r.Get(key)
		require.False(t, doc.Exists(), "%s: delete with the newer HLC must win", r.ID())
	}

	// An update newer than the delete writes its fields back: the object
	// reappears holding only the fields written after the delete.
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = b.Put(key, []byte(`{"spec":{"replicas":3}}`), PutOptions{})
	require.NoError(t, err)
	tn.gossip(1, 0)
	tn.drain()
	doc, _, _ := a.Get(key)
	require.JSONEq(t, `{"spec":{"replicas":3}}`, string(doc.JSON()))
}

func TestTombstoneCollectionWaitsForEveryLivePeer(t *testing.T) {
	tn := newTestNet(t, 9, 3, nil)
	a, b := tn.reps[0], tn.reps[1]
	key := testKeys[1]
	_, err := a.Put(key, []byte(`{"x":1}`), PutOptions{})
	require.NoError(t, err)
	tn.gossip(0, 1)
	tn.gossip(0, 2)
	tn.drain()
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = a.Delete(key, 0)
	require.NoError(t, err)
	tn.gossip(0, 1) // c (index 2) never hears of the delete
	tn.drain()
	tn.vt.now = tn.vt.now.Add(5 * time.Second)
	tn.exchangeReports()
	a.CollectGarbage()
	_, _, held := a.Get(key)
	require.True(t, held, "tombstone collected although a live peer has not seen it")

	// c leaves the federation: it no longer holds collection back.
	live := []ReplicaID{a.ID(), b.ID()}
	a.SetPeers(live)
	b.SetPeers(live)
	tn.vt.now = tn.vt.now.Add(5 * time.Second)
	tn.send(1, a.Ack(0))
	tn.send(0, b.Ack(0))
	tn.drain()
	a.CollectGarbage()
	_, _, held = a.Get(key)
	require.False(t, held, "tombstone kept although every live peer has seen it")

	// The stale live copy from b's buffer or repair must not resurrect it.
	tn.send(0, b.StartRepair(a.ID()))
	tn.drain()
	doc, _, ok := a.Get(key)
	if ok {
		require.False(t, doc.Exists(), "collected delete resurrected")
	}
}

// With the push overlay, a member hears most peers' reports only through
// occasional repairs, so reports lag each other: a writer's newest counter
// is seldom in everyone's report. Collection must still progress, bounded
// by older reports everyone has caught up with (stability), and must
// still wait for a member that has not seen the delete.
func TestTombstoneCollectionProgressesWithLaggingReports(t *testing.T) {
	tn := newTestNet(t, 11, 3, nil)
	a, b, c := tn.reps[0], tn.reps[1], tn.reps[2]
	key := testKeys[1]
	tn.writeThenDelete(0, key)
	tn.exchangeReports()

	// b, a's push peer, keeps writing: its reports to a are always newer
	// than c's, which reach a a round late.
	collected := false
	for round := range 4 {
		_, err := b.Put(testKeys[2], []byte(fmt.Sprintf(`{"round":%d}`, round)), PutOptions{})
		require.NoError(t, err)
		tn.vt.now = tn.vt.now.Add(time.Second)
		tn.gossip(1, 2) // b's write reaches c
		tn.drain()
		tn.send(0, c.Ack(0)) // c's report, with b's write
		tn.drain()
		_, err = b.Put(testKeys[3], []byte(fmt.Sprintf(`{"round":%d}`, round)), PutOptions{})
		require.NoError(t, err)
		tn.gossip(1, 0) // b's newer writes and report reach a; c lags
		tn.drain()
		tn.send(0, b.Ack(0))
		tn.drain()
		require.Less(t, c.Context().VV.Get(b.ID()), b.Context().VV.Get(b.ID()), "c should lag b's newest write")
		a.CollectGarbage()
		if _, _, held := a.Get(key); !held {
			collected = true
			t.Logf("collected in round %d", round)
			break
		}
	}
	require.True(t, collected, "tombstone never collected: lagging reports stall collection")

	// And a delete c has not seen is held back however reports lag.
	other := Key("apps/Deployment/default/db")
	_, err := a.Put(other, []byte(`{"y":1}`), PutOptions{})
	require.NoError(t, err)
	tn.spreadAll()
	tn.vt.now = tn.vt.now.Add(time.Second)
	_, err = a.Delete(other, 0)
	require.NoError(t, err)
	tn.gossip(0, 1) // c never hears of the delete
	tn.drain()
	for range 4 {
		tn.vt.now = tn.vt.now.Add(5 * time.Second)
		tn.exchangeReports()
		a.CollectGarbage()
		_, _, held := a.Get(other)
		require.True(t, held, "tombstone collected although a live peer has not seen it")
	}
}

// A partial acknowledgement (the end of an in-sync repair) still carries
// the sender's own counter: its clock bounds the writes numbered above that
// counter, and the peer may not hold the report the omitted entries came
// with (one dropped for clock drift, or forgotten on leaving the live set).
func TestPartialAckCarriesOwnCounter(t *testing.T) {
	w := newTestReplica(t, "did:key:w", nil, nil)
	for i := range 3 {
		_, err := w.Put(Key(fmt.Sprintf("g/K/ns/o%d", i)), []byte(`{"kind":"K"}`), PutOptions{})
		require.NoError(t, err)
	}
	known := w.Context() // the peer is known to hold all of it
	ack := w.ackBeyond(7, known)
	require.Equal(t, uint64(3), ack.VV.Get(w.ID()), "own counter omitted from a partial report")

	// A peer that forgot w's earlier report pairs the clock with the
	// right counter.
	p := newTestReplica(t, "did:key:p", nil, nil)
	p.SetPeers([]ReplicaID{w.ID()})
	p.HandleAck(ack)
	require.Equal(t, uint64(3), p.peers[w.ID()].rep.vv.Get(w.ID()))
}

// A member joining the live set holds collection back until its report
// covers what the bounds rest on; it does not restart every member's
// checkpoints, which under lagging reports and steady joins would stall
// collection for good.
func TestTombstoneCollectionSurvivesAJoin(t *testing.T) {
	tn := newTestNet(t, 12, 4, nil)
	a, b, c, d := tn.reps[0], tn.reps[1], tn.reps[2], tn.reps[3]
	a.SetPeers([]ReplicaID{a.ID(), b.ID(), c.ID()}) // d joins later
	report := func(from ...*Replica) {
		for _, r := range from {
			tn.send(0, r.Ack(0))
		}
		tn.drain()
	}
	key := testKeys[1]
	tn.writeThenDelete(0, key)
	_, err := b.Put(testKeys[2], []byte(`{"v":1}`), PutOptions{})
	require.NoError(t, err)
	tn.gossip(1, 0)
	tn.gossip(1, 3)
	tn.drain()
	report(b) // c has not seen b's write yet
	a.CollectGarbage()
	_, _, held := a.Get(key)
	require.True(t, held, "c lags b's write: nothing bounds b yet")

	// c catches up with the checkpointed write while b writes on, and d
	// joins a's live set, having everything the checkpoints cover. The
	// next collection may use the checkpoints taken before the join.
	tn.vt.now = tn.vt.now.Add(time.Second)
	tn.gossip(1, 2)
	tn.drain()
	_, err = b.Put(testKeys[3], []byte(`{"v":2}`), PutOptions{})
	require.NoError(t, err)
	tn.gossip(1, 0)
	tn.drain()
	report(b, c)
	a.SetPeers([]ReplicaID{a.ID(), b.ID(), c.ID(), d.ID()})
	report(d)
	a.CollectGarbage()
	_, _, held = a.Get(key)
	require.False(t, held, "a join restarted the checkpoints: lagging reports keep collection from ever catching up")
}

// randomDocs returns three versions of one key written by three replicas
// with skewed clocks: random edits, deletes and generation bumps.
func randomDocs(t *testing.T, seed uint64) []*Document {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	vt := &virtualTime{now: time.Unix(1_700_000_000, 0)}
	var docs []*Document
	for i := 0; i < 3; i++ {
		r := newTestReplica(t, ReplicaID(fmt.Sprintf("w%d", i)), skewedClock{vt: vt, skew: time.Duration(rng.IntN(100)) * time.Millisecond}, nil)
		var cur []byte
		for k := 0; k < 1+rng.IntN(6); k++ {
			vt.now = vt.now.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
			if cur != nil && rng.IntN(5) == 0 {
				_, err := r.Delete(testKeys[0], 0)
				require.NoError(t, err)
				cur = nil
				continue
			}
			_, err := r.Put(testKeys[0], randomEdit(rng, cur), PutOptions{BumpGeneration: rng.IntN(2) == 0})
			require.NoError(t, err)
			d, _, _ := r.Get(testKeys[0])
			cur = d.JSON()
		}
		d, _, _ := r.Get(testKeys[0])
		docs = append(docs, d.Clone())
	}
	return docs
}

func TestDocumentMergeLaws(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		docs := randomDocs(t, seed)
		join := func(x, y *Document) *Document {
			out := x.Clone()
			out.merge(y, nil)
			return out
		}
		a, b, c := docs[0], docs[1], docs[2]
		require.True(t, join(a, b).Equal(join(b, a)), "seed %d: not commutative", seed)
		require.True(t, join(join(a, b), c).Equal(join(a, join(b, c))), "seed %d: not associative", seed)
		require.True(t, join(a, a).Equal(a), "seed %d: not idempotent", seed)
		require.True(t, join(join(a, b), b).Equal(join(a, b)), "seed %d: join not absorbing", seed)
	}
}

func TestReplicaRejectsFutureStamps(t *testing.T) {
	tn := newTestNet(t, 10, 2, nil)
	a, b := tn.reps[0], tn.reps[1]
	_, err := a.Put(testKeys[0], []byte(`{"a":1}`), PutOptions{})
	require.NoError(t, err)
	m, err := a.DeltaFor(b.ID())
	require.NoError(t, err)
	// Forge a stamp a minute ahead of b's clock.
	for _, kd := range m.Docs {
		kd.Doc.root.fields["a"].stamp.Time = MakeTimestamp(tn.vt.now.Add(time.Minute).UnixMilli(), 0)
	}
	before := stateOf(t, b)
	_, _, err = b.ApplyDelta(m)
	require.ErrorIs(t, err, ErrClockDrift)
	require.Equal(t, before, stateOf(t, b), "rejected delta changed state")
	require.Less(t, b.clock.Last().Physical(), tn.vt.now.Add(time.Minute).UnixMilli(), "future timestamp adopted")
}

// A copy of a write the replica already holds changes nothing, so it is
// dropped before its stamps are looked at: a forged stamp on it is
// neither adopted nor a reason to refuse the rest of the message.
func TestReplicaIgnoresStampsOfCopies(t *testing.T) {
	tn := newTestNet(t, 12, 2, nil)
	a, b := tn.reps[0], tn.reps[1]
	_, err := a.Put(testKeys[0], []byte(`{"a":1}`), PutOptions{})
	require.NoError(t, err)
	m, err := a.DeltaFor(b.ID())
	require.NoError(t, err)
	_, _, err = b.ApplyDelta(m)
	require.NoError(t, err)

	raw, err := EncodeMessage(m)
	require.NoError(t, err)
	copyMsg, err := DecodeMessage(raw, DefaultLimits())
	require.NoError(t, err)
	dup := copyMsg.(*DeltaMsg)
	for _, kd := range dup.Docs {
		kd.Doc.root.fields["a"].stamp.Time = MakeTimestamp(tn.vt.now.Add(time.Minute).UnixMilli(), 0)
	}
	// The copy rides with a new write, which must still be applied.
	_, err = a.Put(testKeys[1], []byte(`{"b":2}`), PutOptions{})
	require.NoError(t, err)
	fresh, err := a.DeltaFor(b.ID())
	require.NoError(t, err)
	dup.Docs = append(dup.Docs, fresh.Docs...)
	dup.Dots = append(dup.Dots, fresh.Dots...)

	before := stateOf(t, b)
	u, _, err := b.ApplyDelta(dup)
	require.NoError(t, err)
	require.Len(t, u.Changes, 1, "only the new write changes b")
	require.Equal(t, testKeys[1], u.Changes[0].Key)
	require.NotEqual(t, before, stateOf(t, b))
	require.Less(t, b.clock.Last().Physical(), tn.vt.now.Add(time.Minute).UnixMilli(), "future timestamp adopted")
}

func TestReplicaLocalOperationErrors(t *testing.T) {
	tn := newTestNet(t, 11, 1, nil)
	r := tn.reps[0]
	key := testKeys[0]
	_, err := r.Put(key, []byte(`{"a":1}`), PutOptions{Mode: PutUpdate})
	require.ErrorIs(t, err, ErrNotFound)
	u, err := r.Put(key, []byte(`{"a":1}`), PutOptions{Mode: PutCreate})
	require.NoError(t, err)
	rv := u.Changes[0].RV
	_, err = r.Put(key, []byte(`{"a":2}`), PutOptions{Mode: PutCreate})
	require.ErrorIs(t, err, ErrAlreadyExists)
	_, err = r.Put(key, []byte(`{"a":2}`), PutOptions{ExpectRV: rv + 7})
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	require.ErrorIs(t, err, ErrConflict)
	require.Equal(t, rv, ce.Actual)
	u, err = r.Put(key, []byte(`{"a":1}`), PutOptions{ExpectRV: rv})
	require.NoError(t, err)
	require.Empty(t, u.Changes, "unchanged put must not produce a change")
	for _, bad := range []string{`[1]`, `"x"`, `{"a":`, `{"a":1} {}`, `nul`} {
		_, err = r.Put(key, []byte(bad), PutOptions{})
		require.ErrorIs(t, err, ErrInvalid, "input %q", bad)
	}
	_, err = r.Put("no-slashes", []byte(`{}`), PutOptions{})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = r.Delete(key, rv+1)
	require.ErrorIs(t, err, ErrConflict)
	_, err = r.Delete(key, rv)
	require.NoError(t, err)
	_, err = r.Delete(key, 0)
	require.ErrorIs(t, err, ErrNotFound)
	doc, _, _ := r.Get(key)
	require.False(t, doc.Exists())
}

// propSeeds lets a long run widen the search: LATTICE_PROP_SEEDS=5000.
func replicaPropSeeds(def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv("LATTICE_PROP_SEEDS"), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// A peer whose report (carried by its acks) already covers buffered
// deltas is not sent them again: with many members most deltas reach a
// peer from someone else first.
func TestDeltaForSkipsWhatPeerReported(t *testing.T) {
	r, err := NewReplica(DefaultReplicaConfig("a", NewClock(nil, 0)))
	require.NoError(t, err)
	r.SetPeers([]ReplicaID{"b", "c"})
	_, err = r.Put("g/K/ns/one", []byte(`{"kind":"K","v":1}`), PutOptions{})
	require.NoError(t, err)
	_, err = r.Put("g/K/ns/two", []byte(`{"kind":"K","v":2}`), PutOptions{})
	require.NoError(t, err)

	// b reports having a's first write (it came through c).
	r.HandleAck(&AckMsg{From: "b", VV: MakeVersionVector(map[ReplicaID]uint64{"a": 1})})
	m, err := r.DeltaFor("b")
	require.NoError(t, err)
	require.NotNil(t, m)
	require.Len(t, m.Docs, 1, "only the write b lacks")
	require.Equal(t, Key("g/K/ns/two"), m.Docs[0].Key)

	// Once b reports both, nothing is sent and b counts as caught up.
	r.HandleAck(&AckMsg{From: "b", VV: MakeVersionVector(map[ReplicaID]uint64{"a": 2})})
	m, err = r.DeltaFor("b")
	require.NoError(t, err)
	require.Nil(t, m)
	m, err = r.DeltaFor("c")
	require.NoError(t, err)
	require.Len(t, m.Docs, 2, "c reported nothing")
}

// A peer dropped from the live set and added back starts over: its old
// acknowledgement no longer stands (peer lookups are cached, and the live
// peers listed apart, so both must follow SetPeers and Restore).
func TestPeerDroppedAndReaddedStartsOver(t *testing.T) {
	r := newTestReplica(t, "a", nil, nil)
	r.SetPeers([]ReplicaID{"b", "c"})
	for i := range 2 {
		_, err := r.Put(Key(fmt.Sprintf("g/K/ns/o%d", i)), []byte(`{"kind":"K"}`), PutOptions{})
		require.NoError(t, err)
	}
	r.HandleAck(&AckMsg{From: "c", Seq: 2})
	m, err := r.DeltaFor("c")
	require.NoError(t, err)
	require.Nil(t, m, "c acknowledged everything")
	require.Len(t, r.Buffer(), 2, "b has not acknowledged")

	// With no live peer the buffer empties; c, back, has acknowledged
	// nothing, so it needs a repair rather than nothing.
	r.SetPeers(nil)
	require.Empty(t, r.Buffer())
	r.SetPeers([]ReplicaID{"c", "b"}) // c first: the last one looked up
	_, err = r.DeltaFor("c")
	require.ErrorIs(t, err, ErrNeedRepair, "c's acknowledgement outlived its removal")

	// Only live peers hold the buffer: b and c acknowledge, it empties.
	_, err = r.Put("g/K/ns/o2", []byte(`{"kind":"K"}`), PutOptions{})
	require.NoError(t, err)
	r.HandleAck(&AckMsg{From: "b", Seq: 3})
	require.Len(t, r.Buffer(), 1, "c, live again, has not acknowledged")
	r.HandleAck(&AckMsg{From: "c", Seq: 3})
	require.Empty(t, r.Buffer())

	// A restored replica prunes by the live peers its metadata lists.
	meta := r.Meta()
	meta.Acks = map[ReplicaID]uint64{"b": 3, "c": 0}
	r2 := newTestReplica(t, "a", nil, nil)
	require.NoError(t, r2.Restore(meta, nil, nil))
	_, err = r2.Put("g/K/ns/o3", []byte(`{"kind":"K"}`), PutOptions{})
	require.NoError(t, err)
	r2.HandleAck(&AckMsg{From: "b", Seq: 4})
	require.NotEmpty(t, r2.Buffer(), "c, restored at 0, holds the buffer")
}

// Once pushes are narrowed to some live peers (gossip's overlay), only
// their acknowledgements hold the buffer; the other live peers still hold
// tombstone collection, and a peer that becomes a push peer with nothing
// acknowledged is sent to repair.
func TestPushPeersAloneHoldTheBuffer(t *testing.T) {
	r := newTestReplica(t, "a", nil, nil)
	r.SetPeers([]ReplicaID{"b", "c", "d"})
	r.SetPushPeers([]ReplicaID{"b", "c", "x"}) // x is not live: ignored
	for i := range 2 {
		_, err := r.Put(Key(fmt.Sprintf("g/K/ns/o%d", i)), []byte(`{"kind":"K"}`), PutOptions{})
		require.NoError(t, err)
	}
	r.HandleAck(&AckMsg{From: "b", Seq: 2})
	require.Len(t, r.Buffer(), 2, "c, a push peer, has not acknowledged")
	r.HandleAck(&AckMsg{From: "c", Seq: 2})
	require.Empty(t, r.Buffer(), "d is not pushed to: its acknowledgement must not hold the buffer")

	// SetPeers keeps the marks of peers that stay live; a new live peer
	// holds the buffer until SetPushPeers says whether it is pushed to.
	r.SetPeers([]ReplicaID{"b", "c", "d", "e"})
	_, err := r.Put("g/K/ns/o2", []byte(`{"kind":"K"}`), PutOptions{})
	require.NoError(t, err)
	r.HandleAck(&AckMsg{From: "b", Seq: 3})
	r.HandleAck(&AckMsg{From: "c", Seq: 3})
	require.Len(t, r.Buffer(), 1, "e, new, should hold the buffer until SetPushPeers")
	r.SetPushPeers([]ReplicaID{"b", "c"})
	require.Empty(t, r.Buffer(), "neither d nor e is a push peer")

	// d becomes a push peer: it acknowledged nothing the buffer still
	// holds, so it needs a repair; meanwhile it holds the buffer.
	r.SetPushPeers([]ReplicaID{"b", "d"})
	_, err = r.DeltaFor("d")
	require.ErrorIs(t, err, ErrNeedRepair)
	_, err = r.Put("g/K/ns/o3", []byte(`{"kind":"K"}`), PutOptions{})
	require.NoError(t, err)
	r.HandleAck(&AckMsg{From: "b", Seq: 4})
	require.Len(t, r.Buffer(), 1, "d, now a push peer, has not acknowledged")

	// nil widens pruning back to every live peer.
	r.HandleAck(&AckMsg{From: "d", Seq: 4})
	_, err = r.Put("g/K/ns/o4", []byte(`{"kind":"K"}`), PutOptions{})
	require.NoError(t, err)
	r.SetPushPeers(nil)
	r.HandleAck(&AckMsg{From: "b", Seq: 5})
	r.HandleAck(&AckMsg{From: "d", Seq: 5})
	require.Len(t, r.Buffer(), 1, "c and e are live again for pruning")
}

// A durable replica's stability reports claim only a clock its driver has
// persisted (through Meta), so a restart can never issue writes below a
// reported clock; a volatile one reports its current reading.
func TestReportedClockIsTheDurableOne(t *testing.T) {
	vt := &virtualTime{now: time.UnixMilli(1_700_000_000_000)}
	durable := newTestReplica(t, "a", skewedClock{vt: vt}, func(c *ReplicaConfig) { c.Volatile = false })
	volatile := newTestReplica(t, "v", skewedClock{vt: vt}, nil)
	for _, r := range []*Replica{durable, volatile} {
		_, err := r.Put("g/K/ns/x", []byte(`{"kind":"K"}`), PutOptions{})
		require.NoError(t, err)
	}
	require.Zero(t, durable.Ack(1).Clock, "nothing persisted yet")
	m := durable.Meta()
	require.NotZero(t, m.Clock)
	require.Equal(t, m.Clock, durable.Ack(1).Clock)

	vt.now = vt.now.Add(5 * time.Second)
	require.Equal(t, m.Clock, durable.Ack(1).Clock, "a report ran ahead of the persisted clock")
	later := durable.Meta()
	require.Greater(t, later.Clock, m.Clock)
	require.Equal(t, later.Clock, durable.Ack(1).Clock)

	require.Equal(t, vt.now.UnixMilli(), volatile.Ack(1).Clock.Time().UnixMilli(), "a volatile replica reports its current clock")
}

// A peer has what it sends: a write that reached x from its writer a and
// then again from b is not sent back to b, though b never acknowledged
// anything from x, while c still gets it.
func TestDeltaForSkipsWhatPeerSent(t *testing.T) {
	vt := &virtualTime{now: time.UnixMilli(1_700_000_000_000)}
	a := newTestReplica(t, "a", skewedClock{vt: vt}, nil)
	b := newTestReplica(t, "b", skewedClock{vt: vt}, nil)
	x := newTestReplica(t, "x", skewedClock{vt: vt}, nil)
	a.SetPeers([]ReplicaID{"b", "x"})
	b.SetPeers([]ReplicaID{"a", "x"})
	x.SetPeers([]ReplicaID{"a", "b", "c"})

	_, err := a.Put("g/K/ns/one", []byte(`{"kind":"K","v":1}`), PutOptions{})
	require.NoError(t, err)
	for _, to := range []*Replica{x, b} {
		d, err := a.DeltaFor(to.ID())
		require.NoError(t, err)
		_, _, err = to.Step(d)
		require.NoError(t, err)
	}
	dup, err := b.DeltaFor("x")
	require.NoError(t, err)
	require.NotNil(t, dup)
	_, _, err = x.Step(dup)
	require.NoError(t, err)

	back, err := x.DeltaFor("b")
	require.NoError(t, err)
	require.Nil(t, back, "b sent the write; it has it")
	on, err := x.DeltaFor("c")
	require.NoError(t, err)
	require.NotNil(t, on, "c has not seen it")
	require.Len(t, on.Docs, 1)
}

// A delta's acknowledgement reports only the version-vector entries the
// delta can have moved (its writers' and the acknowledger's own), however
// many writers the acknowledger has heard of; repairs still carry the
// whole vector, and partial reports only ever raise what a peer holds.
func TestDeltaAckReportsWhatTheDeltaTouched(t *testing.T) {
	vt := &virtualTime{now: time.UnixMilli(1_700_000_000_000)}
	x := newTestReplica(t, "x", skewedClock{vt: vt}, nil)
	x.SetPeers([]ReplicaID{"a", "b", "c"})
	for _, w := range []ReplicaID{"b", "c"} {
		wr := newTestReplica(t, w, skewedClock{vt: vt}, nil)
		wr.SetPeers([]ReplicaID{"x"})
		_, err := wr.Put(Key("g/K/ns/"+string(w)), []byte(`{"kind":"K"}`), PutOptions{})
		require.NoError(t, err)
		d, err := wr.DeltaFor("x")
		require.NoError(t, err)
		_, _, err = x.ApplyDelta(d)
		require.NoError(t, err)
	}
	_, err := x.Put("g/K/ns/own", []byte(`{"kind":"K"}`), PutOptions{})
	require.NoError(t, err)

	a := newTestReplica(t, "a", skewedClock{vt: vt}, nil)
	a.SetPeers([]ReplicaID{"x", "b"})
	for i := range 2 {
		_, err := a.Put("g/K/ns/a", fmt.Appendf(nil, `{"kind":"K","v":%d}`, i), PutOptions{})
		require.NoError(t, err)
	}
	d, err := a.DeltaFor("x")
	require.NoError(t, err)
	_, ack, err := x.ApplyDelta(d)
	require.NoError(t, err)
	require.Equal(t, map[ReplicaID]uint64{"a": 2, "x": 1}, ack.VV.Map(), "only the delta's writer and x itself")
	require.Equal(t, map[ReplicaID]uint64{"a": 2, "b": 1, "c": 1, "x": 1}, x.Ack(0).VV.Map(), "the full report")

	// a already held a higher report for x's writers from elsewhere: the
	// partial ack merges in without lowering it.
	a.HandleAck(&AckMsg{From: "x", VV: MakeVersionVector(map[ReplicaID]uint64{"b": 1, "c": 1})})
	a.HandleAck(ack)
	require.Equal(t, map[ReplicaID]uint64{"a": 2, "b": 1, "c": 1, "x": 1}, a.peers["x"].rep.vv.Map())
}

// The digest's bucket hashes are cached between document changes: after
// any sequence of writes, deletes and digests at changing depths, the
// cached buckets equal a fresh computation, and what Digest and
// StartRepair hand out is the caller's to modify.
func TestDigestCacheFollowsChanges(t *testing.T) {
	r := newTestReplica(t, "did:key:a", nil, nil)
	fresh := func(depth uint8) []Hash {
		out := make([]Hash, 1<<depth)
		for k, ks := range r.docs {
			xorInto(&out[bucketAt(ks.spread, depth)], r.leaf(k, ks))
		}
		return out
	}
	// A peer whose writes arrive as deltas, so merges change keys too.
	w := newTestReplica(t, "did:key:w", nil, nil)
	w.SetPeers([]ReplicaID{r.ID()})
	rng := rand.New(rand.NewPCG(7, 8))
	depth := uint8(0)
	collected := 0
	for i := range 1000 {
		key := Key(fmt.Sprintf("g/K/ns/k%d", rng.IntN(40)))
		switch rng.IntN(5) {
		case 0:
			_, err := r.Put(key, []byte(fmt.Sprintf(`{"spec":{"i":%d}}`, i)), PutOptions{})
			require.NoError(t, err)
		case 1:
			_, err := r.Delete(key, 0)
			if err != nil {
				require.ErrorIs(t, err, ErrNotFound)
			}
		case 2:
			_, err := w.Put(key, []byte(fmt.Sprintf(`{"spec":{"w":%d}}`, i)), PutOptions{})
			require.NoError(t, err)
			d, err := w.DeltaFor(r.ID())
			require.NoError(t, err)
			_, ack, err := r.ApplyDelta(d)
			require.NoError(t, err)
			w.HandleAck(ack)
		case 3:
			// With no peer to wait for, tombstones go once stable: keys
			// leave the replica altogether.
			n := r.Len()
			r.CollectGarbage()
			collected += n - r.Len()
		}
		// Mostly the depth read before, which the cache keeps up to date
		// key by key; now and then another, which rebuilds it.
		if rng.IntN(4) == 0 {
			depth = uint8(rng.IntN(4))
		}
		for range rng.IntN(3) {
			require.Equal(t, fresh(depth), r.buckets(depth), "step %d depth %d", i, depth)
		}
	}
	require.Positive(t, collected, "the test must remove keys")
	// Keys created and collected with no read between them: the cache
	// gives up rather than pile up pending keys, and the next read
	// rebuilds it.
	r.buckets(depth)
	dropped := false
	for i := range 200 {
		key := Key(fmt.Sprintf("g/K/ns/brief%d", i))
		_, err := r.Put(key, []byte(`{"spec":{}}`), PutOptions{})
		require.NoError(t, err)
		_, err = r.Delete(key, 0)
		require.NoError(t, err)
		r.CollectGarbage()                                                // collects the tombstones older than its last bound
		require.LessOrEqual(t, len(r.digest.pending), max(16, r.Len()+1)) // +1: the key just collected
		dropped = dropped || r.digest.buckets == nil
	}
	require.True(t, dropped, "the test must reach the bound")
	require.Equal(t, fresh(depth), r.buckets(depth))
	d := r.Digest(2)
	d[0][0] ^= 0xff
	require.Equal(t, fresh(2), r.buckets(2), "Digest returned the cache itself")
	m := r.StartRepair("did:key:b")
	if len(m.Buckets) > 0 {
		m.Buckets[0][0] ^= 0xff
	}
	require.Equal(t, fresh(m.Depth), r.buckets(m.Depth), "StartRepair handed out the cache itself")
}

// dotsOf adds every dot d holds (registers and generation entries) to ctx.
func dotsOf(d *Document, ctx *Context) {
	for _, e := range d.gen {
		ctx.Add(e.Stamp.Dot())
	}
	var walk func(n *node)
	walk = func(n *node) {
		if n.kind != kindNone {
			ctx.Add(n.stamp.Dot())
		}
		for _, c := range n.fields {
			walk(c)
		}
	}
	walk(&d.root)
}

// A document whose every dot the context holds changes nothing when
// merged with that context, whatever it is merged into: the replica skips
// such duplicates without merging (mergeKey). A context missing any of its
// dots does not cover it.
func TestCoveredDocumentMergesToNothing(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		docs := randomDocs(t, seed)
		for _, in := range docs {
			ctx := NewContext()
			dotsOf(in, ctx)
			require.True(t, in.coveredBy(ctx), "seed %d", seed)
			for _, into := range append(docs, NewDocument()) {
				out := into.Clone()
				require.False(t, out.merge(in, ctx), "seed %d: a covered document changed the merge", seed)
				require.True(t, out.Equal(into), "seed %d", seed)
			}
			if in.IsEmpty() {
				continue
			}
			require.False(t, in.coveredBy(NewContext()), "seed %d: an empty context covers a document", seed)
		}
	}
}

// A periodic repair between members in sync sends the full context once,
// in the digest: the reply carries only what the responder's context adds
// to the digest's, and the closing ack only what the initiator's then adds
// to its digest's. Each side still ends holding both contexts and
// reporting the other's whole vector.
func TestInSyncRepairSendsContextsOnce(t *testing.T) {
	vt := &virtualTime{now: time.UnixMilli(1_700_000_000_000)}
	x := newTestReplica(t, "x", skewedClock{vt: vt}, nil)
	y := newTestReplica(t, "y", skewedClock{vt: vt}, nil)
	x.SetPeers([]ReplicaID{"y"})
	y.SetPeers([]ReplicaID{"x"})
	for _, w := range []ReplicaID{"a", "b", "c", "d"} {
		wr := newTestReplica(t, w, skewedClock{vt: vt}, nil)
		wr.SetPeers([]ReplicaID{"x", "y"})
		_, err := wr.Put(Key("g/K/ns/"+string(w)), []byte(`{"kind":"K"}`), PutOptions{})
		require.NoError(t, err)
		for _, r := range []*Replica{x, y} {
			d, err := wr.DeltaFor(r.ID())
			require.NoError(t, err)
			_, _, err = r.ApplyDelta(d)
			require.NoError(t, err)
		}
	}
	full := map[ReplicaID]uint64{"a": 1, "b": 1, "c": 1, "d": 1}
	repair := func(init, resp *Replica) (*KeysMsg, *AckMsg) {
		_, keys, err := resp.HandleDigest(init.StartRepair(resp.ID()))
		require.NoError(t, err)
		require.True(t, keys.InSync)
		_, ack, err := init.HandleKeys(keys)
		require.NoError(t, err)
		return keys, ack.(*AckMsg)
	}

	keys, ack := repair(y, x)
	require.True(t, keys.Context.Equal(NewContext()), "equal contexts: the reply adds nothing")
	require.Zero(t, ack.VV.Len(), "and neither does the closing ack")
	_ = x.HandleAck(ack)
	require.Equal(t, full, x.peers["y"].rep.vv.Map())
	require.Equal(t, full, y.peers["x"].rep.vv.Map())

	// x holds a dot y lacks (a write both have seen superseded, say): the
	// reply carries it, y adopts it and its closing ack reports it.
	x.ctx.Add(Dot{"q", 1})
	keys, ack = repair(y, x)
	require.Equal(t, map[ReplicaID]uint64{"q": 1}, keys.Context.VV.Map())
	require.True(t, y.ctx.Contains(Dot{"q", 1}))
	require.Equal(t, map[ReplicaID]uint64{"q": 1}, ack.VV.Map())
	_ = x.HandleAck(ack)
	full["q"] = 1
	require.Equal(t, full, x.peers["y"].rep.vv.Map())
	require.Equal(t, full, y.peers["x"].rep.vv.Map())
	require.True(t, x.ctx.Equal(y.ctx))
}
