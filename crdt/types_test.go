package crdt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// propSeeds is how many seeded random runs each property test makes. A
// failure names its seed; rerun that seed alone by narrowing the loop.
const propSeeds = 50

// propStream is the second PCG word; fixed so a seed always replays the
// same run.
const propStream = 0x1a77_ce00_c0de

// propKit adapts one CRDT type to the generic harness. States are pointers
// so that merge can update in place.
type propKit[S any] struct {
	zero     func() S
	clone    func(S) S
	merge    func(dst, src S)
	equal    func(a, b S) bool
	describe func(S) string
	// op performs one random local operation at r and returns its delta.
	op func(rng *rand.Rand, r *propReplica[S]) S
}

type propReplica[S any] struct {
	id    ReplicaID
	state S
	phys  *fakePhysClock
	clock *Clock
}

type propMsg[S any] struct {
	to    int
	delta S
}

// propRun is one simulated cluster: replicas exchanging deltas over a
// network that reorders, duplicates and loses them.
type propRun[S any] struct {
	seed     uint64
	rng      *rand.Rand
	kit      propKit[S]
	replicas []*propReplica[S]
	pending  []propMsg[S]
	deltas   []S // every delta produced, in order
	pool     []S // deltas and state snapshots for the merge-law checks
}

func newPropRun[S any](seed uint64, kit propKit[S]) *propRun[S] {
	rng := rand.New(rand.NewPCG(seed, propStream))
	run := &propRun[S]{seed: seed, rng: rng, kit: kit}
	n := 3 + rng.IntN(5)
	for i := range n {
		// Skewed physical clocks, so stamp order disagrees with real order.
		phys := &fakePhysClock{now: time.UnixMilli(hlcTestBase + int64(rng.IntN(2000)) - 1000)}
		run.replicas = append(run.replicas, &propReplica[S]{
			id:    ReplicaID(fmt.Sprintf("replica-%d", i)),
			state: kit.zero(),
			phys:  phys,
			clock: NewClock(phys, time.Hour),
		})
	}
	return run
}

// broadcast queues delta for every other replica, losing about 10% of the
// copies and duplicating another 10%.
func (run *propRun[S]) broadcast(from int, delta S) {
	for to := range run.replicas {
		if to == from {
			continue
		}
		switch r := run.rng.IntN(10); {
		case r == 0:
		case r == 1:
			run.pending = append(run.pending, propMsg[S]{to, delta}, propMsg[S]{to, delta})
		default:
			run.pending = append(run.pending, propMsg[S]{to, delta})
		}
	}
}

// deliver hands up to k pending messages, picked at random, to their
// recipients.
func (run *propRun[S]) deliver(k int) {
	for ; k > 0 && len(run.pending) > 0; k-- {
		i := run.rng.IntN(len(run.pending))
		m := run.pending[i]
		run.pending[i] = run.pending[len(run.pending)-1]
		run.pending = run.pending[:len(run.pending)-1]
		run.kit.merge(run.replicas[m.to].state, m.delta)
	}
}

// simulate runs a random workload, drains the network and then runs a
// full-state anti-entropy round through a random pivot replica.
func (run *propRun[S]) simulate() {
	n := len(run.replicas)
	steps := 40 + run.rng.IntN(60)
	for range steps {
		i := run.rng.IntN(n)
		r := run.replicas[i]
		r.phys.Advance(time.Duration(run.rng.IntN(4)-1) * time.Millisecond)
		delta := run.kit.op(run.rng, r)
		run.deltas = append(run.deltas, run.kit.clone(delta))
		run.pool = append(run.pool, run.kit.clone(delta))
		run.broadcast(i, delta)
		run.deliver(run.rng.IntN(4))
		if run.rng.IntN(4) == 0 {
			run.pool = append(run.pool, run.kit.clone(run.replicas[run.rng.IntN(n)].state))
		}
	}
	run.deliver(len(run.pending))
	run.antiEntropy()
}

func (run *propRun[S]) antiEntropy() {
	pivot := run.replicas[run.rng.IntN(len(run.replicas))]
	order := run.rng.Perm(len(run.replicas))
	for _, j := range order {
		if r := run.replicas[j]; r != pivot {
			run.kit.merge(pivot.state, run.kit.clone(r.state))
		}
	}
	for _, j := range order {
		if r := run.replicas[j]; r != pivot {
			run.kit.merge(r.state, run.kit.clone(pivot.state))
		}
	}
}

// requireConverged checks that every replica holds the same state, and
// that it is the join of every delta produced, in production order and in
// a random order.
func (run *propRun[S]) requireConverged(t *testing.T) {
	t.Helper()
	k := run.kit
	want := run.replicas[0].state
	for _, r := range run.replicas[1:] {
		require.Truef(t, k.equal(want, r.state), "seed %d: %s diverged from %s:\n%s\nvs\n%s",
			run.seed, r.id, run.replicas[0].id, k.describe(r.state), k.describe(want))
	}
	inOrder := k.zero()
	for _, d := range run.deltas {
		k.merge(inOrder, d)
	}
	require.Truef(t, k.equal(want, inOrder), "seed %d: converged state is not the join of all deltas:\n%s\nvs\n%s",
		run.seed, k.describe(want), k.describe(inOrder))
	shuffled := k.zero()
	for _, i := range run.rng.Perm(len(run.deltas)) {
		k.merge(shuffled, run.deltas[i])
	}
	require.Truef(t, k.equal(inOrder, shuffled), "seed %d: joining deltas depends on order:\n%s\nvs\n%s",
		run.seed, k.describe(inOrder), k.describe(shuffled))
}

// requireMergeLaws checks commutativity, associativity and idempotence on
// random triples of reachable states and deltas.
func (run *propRun[S]) requireMergeLaws(t *testing.T) {
	t.Helper()
	k := run.kit
	join := func(a, b S) S {
		out := k.clone(a)
		k.merge(out, b)
		return out
	}
	require.NotEmpty(t, run.pool)
	for range 40 {
		a := run.pool[run.rng.IntN(len(run.pool))]
		b := run.pool[run.rng.IntN(len(run.pool))]
		c := run.pool[run.rng.IntN(len(run.pool))]

		ab, ba := join(a, b), join(b, a)
		require.Truef(t, k.equal(ab, ba), "seed %d: a⊔b != b⊔a\na=%s\nb=%s\na⊔b=%s\nb⊔a=%s",
			run.seed, k.describe(a), k.describe(b), k.describe(ab), k.describe(ba))

		left, right := join(ab, c), join(a, join(b, c))
		require.Truef(t, k.equal(left, right), "seed %d: (a⊔b)⊔c != a⊔(b⊔c)\na=%s\nb=%s\nc=%s\nleft=%s\nright=%s",
			run.seed, k.describe(a), k.describe(b), k.describe(c), k.describe(left), k.describe(right))

		require.Truef(t, k.equal(join(a, a), a), "seed %d: a⊔a != a\na=%s", run.seed, k.describe(a))
		self := k.clone(a)
		k.merge(self, self)
		require.Truef(t, k.equal(self, a), "seed %d: merging a state into itself changed it\na=%s", run.seed, k.describe(a))
		// Inflation: joining never loses what either side had.
		require.Truef(t, k.equal(join(ab, a), ab), "seed %d: (a⊔b)⊔a != a⊔b", run.seed)
	}
}

// --- LWWRegister -----------------------------------------------------------

func TestLWWRegisterAssign(t *testing.T) {
	var r LWWRegister[string]
	require.False(t, r.IsSet())

	steps := []struct {
		v      string
		ts     Timestamp
		w      ReplicaID
		want   string
		reason string
	}{
		{"zero stamp", 0, "z", "", "a zero stamp is reserved for unset"},
		{"first", 10, "b", "first", "any real write beats unset"},
		{"older", 9, "z", "first", "older stamp loses whatever the writer"},
		{"tie lower writer", 10, "a", "first", "equal stamp, lower writer loses"},
		{"replay", 10, "b", "first", "replaying the current write is a no-op"},
		{"tie higher writer", 10, "c", "tie higher writer", "equal stamp, higher writer wins"},
		{"newer", 11, "a", "newer", "newer stamp wins whatever the writer"},
	}
	for _, s := range steps {
		r.Assign(s.v, s.ts, s.w)
		require.Equalf(t, s.want, r.Value, "after Assign(%q, %d, %s): %s", s.v, s.ts, s.w, s.reason)
	}
	assert.True(t, r.IsSet())
	assert.Equal(t, LWWRegister[string]{Value: "newer", Stamp: 11, Writer: "a"}, r)

	r.Merge(LWWRegister[string]{Value: "stale", Stamp: 3, Writer: "zz"})
	assert.Equal(t, "newer", r.Value)
	r.Merge(LWWRegister[string]{Value: "fresh", Stamp: 12, Writer: "a"})
	assert.Equal(t, LWWRegister[string]{Value: "fresh", Stamp: 12, Writer: "a"}, r)
	r.Merge(LWWRegister[string]{})
	assert.Equal(t, "fresh", r.Value, "merging an unset register is a no-op")
}

func TestLWWLess(t *testing.T) {
	assert.True(t, lwwLess(1, "z", 2, "a"))
	assert.False(t, lwwLess(2, "a", 1, "z"))
	assert.True(t, lwwLess(2, "a", 2, "b"))
	assert.False(t, lwwLess(2, "b", 2, "a"))
	assert.False(t, lwwLess(2, "a", 2, "a"), "a write is not less than itself")
}

func lwwKit() propKit[*LWWRegister[int]] {
	return propKit[*LWWRegister[int]]{
		zero: func() *LWWRegister[int] { return &LWWRegister[int]{} },
		clone: func(r *LWWRegister[int]) *LWWRegister[int] {
			cp := *r
			return &cp
		},
		merge: func(dst, src *LWWRegister[int]) { dst.Merge(*src) },
		equal: func(a, b *LWWRegister[int]) bool { return *a == *b },
		describe: func(r *LWWRegister[int]) string {
			return fmt.Sprintf("{%d @%s by %s}", r.Value, r.Stamp, r.Writer)
		},
		op: func(rng *rand.Rand, r *propReplica[*LWWRegister[int]]) *LWWRegister[int] {
			w := LWWRegister[int]{Value: rng.IntN(1000), Stamp: r.clock.Now(), Writer: r.id}
			r.state.Assign(w.Value, w.Stamp, w.Writer)
			return &w
		},
	}
}

func TestLWWRegisterProperties(t *testing.T) {
	for seed := uint64(0); seed < propSeeds; seed++ {
		run := newPropRun(seed, lwwKit())
		run.simulate()
		run.requireConverged(t)
		run.requireMergeLaws(t)

		// Oracle: the converged register holds the greatest write made.
		var best LWWRegister[int]
		for _, d := range run.deltas {
			if lwwLess(best.Stamp, best.Writer, d.Stamp, d.Writer) {
				best = *d
			}
		}
		require.Equalf(t, best, *run.replicas[0].state, "seed %d: converged register is not the last write", seed)
	}
}

// --- PNCounter -------------------------------------------------------------

func TestPNCounterBasics(t *testing.T) {
	c := NewPNCounter()
	assert.Zero(t, c.Value())

	d := c.Increment("a", 5)
	assert.True(t, d.Equal(PNCounter{P: map[ReplicaID]uint64{"a": 5}}), "delta %+v", d)
	d = c.Increment("a", 2)
	assert.True(t, d.Equal(PNCounter{P: map[ReplicaID]uint64{"a": 7}}), "delta carries the cumulative entry, got %+v", d)
	d = c.Decrement("b", 10)
	assert.True(t, d.Equal(PNCounter{N: map[ReplicaID]uint64{"b": 10}}), "delta %+v", d)
	assert.Equal(t, int64(-3), c.Value())

	other := NewPNCounter()
	other.Merge(d)
	other.Merge(d)
	assert.Equal(t, int64(-10), other.Value(), "redelivered delta must not double-count")
	other.Merge(c)
	assert.True(t, other.Equal(c))

	cp := c.Clone()
	cp.Increment("a", 1)
	assert.Equal(t, int64(-3), c.Value(), "Clone shared state with its source")
	assert.Equal(t, int64(-2), cp.Value())

	var zero PNCounter
	zero.Decrement("x", 1)
	zero.Merge(PNCounter{})
	assert.Equal(t, int64(-1), zero.Value(), "zero value must be usable")
}

func TestPNCounterEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b PNCounter
		want bool
	}{
		{"empty vs nil maps", NewPNCounter(), PNCounter{}, true},
		{"zero entry equals missing", PNCounter{P: map[ReplicaID]uint64{"a": 0}}, PNCounter{}, true},
		{"same value different split", PNCounter{P: map[ReplicaID]uint64{"a": 2}}, PNCounter{P: map[ReplicaID]uint64{"b": 2}}, false},
		{"P vs N", PNCounter{P: map[ReplicaID]uint64{"a": 2}}, PNCounter{N: map[ReplicaID]uint64{"a": 2}}, false},
		{"entry on one side only", PNCounter{P: map[ReplicaID]uint64{"a": 2}}, PNCounter{}, false},
		{"N entry on one side only", PNCounter{N: map[ReplicaID]uint64{"a": 2}}, NewPNCounter(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.a.Equal(tt.b))
			assert.Equal(t, tt.want, tt.b.Equal(tt.a))
		})
	}
}

func TestPNCounterSaturates(t *testing.T) {
	const maxU = uint64(math.MaxUint64)
	tests := []struct {
		name string
		p, n map[ReplicaID]uint64
		want int64
	}{
		{"sum of P overflows uint64", map[ReplicaID]uint64{"a": maxU, "b": maxU}, nil, math.MaxInt64},
		{"sum of P wraps to a small low word", map[ReplicaID]uint64{"a": maxU, "b": 2}, nil, math.MaxInt64},
		{"sum of N overflows uint64", nil, map[ReplicaID]uint64{"a": maxU, "b": 1}, math.MinInt64},
		{"exactly MaxInt64", map[ReplicaID]uint64{"a": math.MaxInt64}, nil, math.MaxInt64},
		{"one above MaxInt64", map[ReplicaID]uint64{"a": math.MaxInt64, "b": 1}, nil, math.MaxInt64},
		{"exactly MinInt64", nil, map[ReplicaID]uint64{"a": 1 << 62, "b": 1 << 62}, math.MinInt64},
		{"one above MinInt64", nil, map[ReplicaID]uint64{"a": 1<<63 - 1}, math.MinInt64 + 1},
		{"huge sums cancel exactly", map[ReplicaID]uint64{"a": maxU, "b": maxU, "c": 7}, map[ReplicaID]uint64{"a": maxU, "b": maxU}, 7},
		{"huge sums cancel negative", map[ReplicaID]uint64{"a": maxU}, map[ReplicaID]uint64{"a": maxU, "b": 9}, -9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := PNCounter{P: tt.p, N: tt.n}
			assert.Equal(t, tt.want, c.Value())
		})
	}

	t.Run("entry saturates instead of wrapping", func(t *testing.T) {
		c := NewPNCounter()
		c.Increment("a", maxU-1)
		d := c.Increment("a", 5)
		assert.Equal(t, maxU, c.P["a"])
		assert.Equal(t, maxU, d.P["a"])
		c.Decrement("a", maxU)
		c.Decrement("a", maxU)
		assert.Equal(t, maxU, c.N["a"])
		assert.Zero(t, c.Value())
	})
}

func pnKit(total *int64) propKit[*PNCounter] {
	return propKit[*PNCounter]{
		zero: func() *PNCounter {
			c := NewPNCounter()
			return &c
		},
		clone: func(c *PNCounter) *PNCounter {
			cp := c.Clone()
			return &cp
		},
		merge:    func(dst, src *PNCounter) { dst.Merge(*src) },
		equal:    func(a, b *PNCounter) bool { return a.Equal(*b) },
		describe: func(c *PNCounter) string { return fmt.Sprintf("P=%v N=%v", c.P, c.N) },
		op: func(rng *rand.Rand, r *propReplica[*PNCounter]) *PNCounter {
			n := rng.Uint64N(50)
			var d PNCounter
			if rng.IntN(2) == 0 {
				d = r.state.Increment(r.id, n)
				*total += int64(n)
			} else {
				d = r.state.Decrement(r.id, n)
				*total -= int64(n)
			}
			return &d
		},
	}
}

func TestPNCounterProperties(t *testing.T) {
	for seed := uint64(0); seed < propSeeds; seed++ {
		var total int64
		run := newPropRun(seed, pnKit(&total))
		run.simulate()
		run.requireConverged(t)
		run.requireMergeLaws(t)
		for _, r := range run.replicas {
			require.Equalf(t, total, r.state.Value(), "seed %d: %s lost or double-counted updates", seed, r.id)
		}
	}
}

// --- ORMap -----------------------------------------------------------------

func ormEqString(a, b string) bool { return a == b }

// ormDescribe renders a map deterministically for failure messages.
func ormDescribe(m *ORMap[string]) string {
	var b strings.Builder
	for _, k := range m.Keys() {
		fmt.Fprintf(&b, "%s=[", k)
		for i, w := range m.Entries[k] {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s@%d:%q", w.Dot, w.Stamp.Logical(), w.Value)
		}
		b.WriteString("] ")
	}
	fmt.Fprintf(&b, "ctx=%s cloud=%v", m.Context.VV, m.Context.CloudDots())
	return b.String()
}

// ormRequireWellFormed checks the representation invariants Merge relies on.
func ormRequireWellFormed(t *testing.T, seed uint64, m *ORMap[string]) {
	t.Helper()
	for k, ws := range m.Entries {
		require.NotEmptyf(t, ws, "seed %d: key %q kept with no writes", seed, k)
		for i, w := range ws {
			require.Truef(t, m.Context.Contains(w.Dot), "seed %d: live dot %s missing from context", seed, w.Dot)
			if i > 0 {
				require.Lessf(t, ormCompareDots(ws[i-1].Dot, w.Dot), 0, "seed %d: key %q writes not sorted", seed, k)
			}
		}
	}
}

func TestORMapBasics(t *testing.T) {
	m := NewORMap[string]()
	_, ok := m.Get("k")
	require.False(t, ok)

	d1 := m.Put("a", 10, "k", "v1")
	v, ok := m.Get("k")
	require.True(t, ok)
	assert.Equal(t, "v1", v)
	assert.Equal(t, []string{"k"}, d1.Keys())
	assert.True(t, d1.Context.Equal(causalCtx(VersionVector{}, Dot{"a", 1})), "put delta context: %s %v", d1.Context.VV, d1.Context.CloudDots())

	d2 := m.Put("a", 11, "k", "v2")
	assert.Equal(t, []ORMapWrite[string]{{Dot: Dot{"a", 2}, Stamp: 11, Value: "v2"}}, d2.Entries["k"])
	assert.True(t, d2.Context.Equal(causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2}))), "put delta must carry the superseded dot")

	m.Put("b", 12, "j", "w")
	m.Put("a", 13, "i", "x")
	assert.Equal(t, []string{"i", "j", "k"}, m.Keys())
	assert.Equal(t, 3, m.Len())

	rm := m.Remove("k")
	_, ok = m.Get("k")
	assert.False(t, ok)
	assert.Zero(t, rm.Len())
	assert.True(t, rm.Context.Equal(causalCtx(VersionVector{}, Dot{"a", 2})), "remove delta context: %s %v", rm.Context.VV, rm.Context.CloudDots())
	assert.Equal(t, []string{"i", "j"}, m.Keys())

	noop := m.Remove("absent")
	assert.True(t, noop.Equal(NewORMap[string](), ormEqString), "removing an absent key must yield an empty delta")

	// The deltas rebuild the state.
	rebuilt := NewORMap[string]()
	for _, d := range []*ORMap[string]{d1, d2, rm} {
		rebuilt.Merge(d)
	}
	_, ok = rebuilt.Get("k")
	assert.False(t, ok)
}

func TestORMapCloneEqual(t *testing.T) {
	m := NewORMap[string]()
	m.Put("a", 1, "k", "v")
	cp := m.Clone()
	require.True(t, cp.Equal(m, ormEqString))
	cp.Put("a", 2, "k", "changed")
	cp.Put("a", 3, "new", "x")
	v, _ := m.Get("k")
	assert.Equal(t, "v", v, "Clone shared state with its source")
	assert.Equal(t, 1, m.Len())
	assert.False(t, cp.Equal(m, ormEqString))

	// Same dots and stamps, different value.
	other := NewORMap[string]()
	other.Put("a", 1, "k", "other")
	assert.False(t, other.Equal(m, ormEqString))
	assert.True(t, other.Equal(m, func(a, b string) bool { return true }))

	// Same dot, different stamp (a writer reusing a dot).
	restamped := m.Clone()
	restamped.Entries["k"][0].Stamp++
	assert.False(t, restamped.Equal(m, ormEqString))

	// Same entries, different context.
	wider := m.Clone()
	wider.Context.Add(Dot{"z", 1})
	assert.False(t, wider.Equal(m, ormEqString))

	var nilMap *ORMap[string]
	assert.True(t, nilMap.Equal(nil, ormEqString))
	assert.False(t, nilMap.Equal(m, ormEqString))
	assert.False(t, m.Equal(nil, ormEqString))
}

func TestORMapZeroValueAndMalformedInput(t *testing.T) {
	var m ORMap[int]
	m.Merge(&ORMap[int]{}) // nil maps and nil context on both sides
	d := m.Put("a", 1, "k", 1)
	var other ORMap[int]
	other.Merge(d)
	v, ok := other.Get("k")
	require.True(t, ok)
	assert.Equal(t, 1, v)
	other.Merge(nil)
	assert.Equal(t, 1, other.Len())

	// Writes out of order and duplicated, e.g. from a careless decoder,
	// are normalised by the join.
	messy := &ORMap[int]{
		Entries: map[string][]ORMapWrite[int]{"x": {
			{Dot: Dot{"b", 1}, Stamp: 5, Value: 5},
			{Dot: Dot{"a", 1}, Stamp: 4, Value: 4},
			{Dot: Dot{"b", 1}, Stamp: 5, Value: 5},
		}},
		Context: causalCtx(VersionVector{}, Dot{"a", 1}, Dot{"b", 1}),
	}
	into := NewORMap[int]()
	into.Merge(messy)
	assert.Equal(t, []ORMapWrite[int]{
		{Dot: Dot{"a", 1}, Stamp: 4, Value: 4},
		{Dot: Dot{"b", 1}, Stamp: 5, Value: 5},
	}, into.Entries["x"])
	v, _ = into.Get("x")
	assert.Equal(t, 5, v)
}

func TestORMapConcurrentPutsResolveByLWW(t *testing.T) {
	a, b := NewORMap[string](), NewORMap[string]()
	da := a.Put("a", 20, "k", "from-a")
	db := b.Put("b", 10, "k", "from-b")
	a.Merge(db)
	b.Merge(da)
	require.True(t, a.Equal(b, ormEqString))
	v, _ := a.Get("k")
	assert.Equal(t, "from-a", v, "higher stamp wins")
	assert.Len(t, a.Entries["k"], 2, "concurrent writes both stay live until superseded")

	// Equal stamps: the writer ID breaks the tie, identically everywhere.
	c, d := NewORMap[string](), NewORMap[string]()
	dc := c.Put("a", 7, "k", "from-a")
	dd := d.Put("b", 7, "k", "from-b")
	c.Merge(dd)
	d.Merge(dc)
	vc, _ := c.Get("k")
	vd, _ := d.Get("k")
	assert.Equal(t, "from-b", vc)
	assert.Equal(t, "from-b", vd)

	// A put that observed both supersedes them even with a lower stamp:
	// LWW only arbitrates between concurrent writes.
	dup := b.Put("b", 15, "k", "after")
	a.Merge(dup)
	require.True(t, a.Equal(b, ormEqString))
	v, _ = a.Get("k")
	assert.Equal(t, "after", v)
	assert.Len(t, a.Entries["k"], 1)
}

func TestORMapWinnerTieBreak(t *testing.T) {
	// One writer reusing a stamp (a misbehaving caller) leaves two live
	// writes that tie on (Stamp, writer); the higher dot wins, whatever the
	// order the writes are held in.
	ws := []ORMapWrite[string]{
		{Dot: Dot{"a", 1}, Stamp: 5, Value: "first"},
		{Dot: Dot{"a", 2}, Stamp: 5, Value: "second"},
		{Dot: Dot{"b", 1}, Stamp: 4, Value: "older"},
	}
	for _, perm := range [][]int{{0, 1, 2}, {1, 0, 2}, {2, 1, 0}, {2, 0, 1}} {
		m := &ORMap[string]{Entries: map[string][]ORMapWrite[string]{}, Context: causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2, "b": 1}))}
		for _, i := range perm {
			m.Entries["k"] = append(m.Entries["k"], ws[i])
		}
		v, ok := m.Get("k")
		require.True(t, ok)
		assert.Equalf(t, "second", v, "order %v", perm)
	}
}

func TestORMapAddWins(t *testing.T) {
	a, b := NewORMap[string](), NewORMap[string]()
	b.Merge(a.Put("a", 1, "k", "v1"))

	put := a.Put("a", 2, "k", "v2") // concurrent with...
	rm := b.Remove("k")             // ...a remove that only saw v1.
	a.Merge(rm)
	b.Merge(put)
	require.True(t, a.Equal(b, ormEqString), "%s\nvs\n%s", ormDescribe(a), ormDescribe(b))
	v, ok := a.Get("k")
	require.True(t, ok, "concurrent put must win over remove")
	assert.Equal(t, "v2", v)

	// A remove of a put it never saw is a no-op for that put.
	c := NewORMap[string]()
	unseen := a.Put("a", 3, "fresh", "x")
	c.Merge(c.Remove("fresh"))
	c.Merge(unseen)
	_, ok = c.Get("fresh")
	assert.True(t, ok)
}

func TestORMapRemoveIsNotResurrected(t *testing.T) {
	// b holds two concurrent writes; c only ever saw the newer one and
	// removes it. The older, unobserved write survives, and the removed
	// value must not shadow it anywhere, whatever the delivery order.
	a, b, c := NewORMap[string](), NewORMap[string](), NewORMap[string]()
	old := a.Put("a", 10, "k", "old")
	newer := c.Put("c", 20, "k", "newer")
	b.Merge(old)
	b.Merge(newer)
	v, _ := b.Get("k")
	require.Equal(t, "newer", v)

	rm := c.Remove("k")
	b.Merge(rm)
	a.Merge(rm)
	a.Merge(newer) // arrives after its remove: must stay dead
	c.Merge(old)
	for i, m := range []*ORMap[string]{a, b, c} {
		v, ok := m.Get("k")
		assert.Truef(t, ok, "replica %d: unobserved write must survive", i)
		assert.Equalf(t, "old", v, "replica %d: removed value leaked", i)
	}
	assert.True(t, a.Equal(b, ormEqString))
	assert.True(t, b.Equal(c, ormEqString))
}

var ormPropKeys = []string{"alpha", "beta", "gamma", "delta"}

func ormKit() propKit[*ORMap[string]] {
	step := 0
	return propKit[*ORMap[string]]{
		zero:     NewORMap[string],
		clone:    (*ORMap[string]).Clone,
		merge:    (*ORMap[string]).Merge,
		equal:    func(a, b *ORMap[string]) bool { return a.Equal(b, ormEqString) },
		describe: ormDescribe,
		op: func(rng *rand.Rand, r *propReplica[*ORMap[string]]) *ORMap[string] {
			step++
			key := ormPropKeys[rng.IntN(len(ormPropKeys))]
			if rng.IntN(3) == 0 {
				return r.state.Remove(key)
			}
			return r.state.Put(r.id, r.clock.Now(), key, fmt.Sprintf("%s#%d", r.id, step))
		},
	}
}

// ormDeliverAll hands each replica the deltas in a fresh random order,
// skipping the replica that produced each one.
func ormDeliverAll(rng *rand.Rand, replicas []*propReplica[*ORMap[string]], deltas []*ORMap[string], origin []int) {
	for k, r := range replicas {
		for _, i := range rng.Perm(len(deltas)) {
			if origin[i] != k {
				r.state.Merge(deltas[i])
			}
		}
	}
}

func TestORMapProperties(t *testing.T) {
	for seed := uint64(0); seed < propSeeds; seed++ {
		run := newPropRun(seed, ormKit())
		run.simulate()
		for _, r := range run.replicas {
			ormRequireWellFormed(t, seed, r.state)
		}
		run.requireConverged(t)
		run.requireMergeLaws(t)

		rng, reps := run.rng, run.replicas
		n := len(reps)
		i := rng.IntN(n)
		j := (i + 1 + rng.IntN(n-1)) % n
		key := ormPropKeys[rng.IntN(len(ormPropKeys))]

		// Add wins: i puts while j concurrently removes the same key.
		put := reps[i].state.Put(reps[i].id, reps[i].clock.Now(), key, "added")
		rm := reps[j].state.Remove(key)
		ormDeliverAll(rng, reps, []*ORMap[string]{put, rm}, []int{i, j})
		for _, r := range reps {
			v, ok := r.state.Get(key)
			require.Truef(t, ok, "seed %d: %s lost %q to a concurrent remove", seed, r.id, key)
			require.Equalf(t, "added", v, "seed %d: %s", seed, r.id)
			require.Truef(t, r.state.Equal(reps[0].state, ormEqString), "seed %d: %s diverged after add-wins round", seed, r.id)
		}

		// Observed remove: j sees i's put, then removes; the put may reach
		// the others before or after the remove.
		put = reps[i].state.Put(reps[i].id, reps[i].clock.Now(), key, "observed")
		reps[j].state.Merge(put)
		rm = reps[j].state.Remove(key)
		ormDeliverAll(rng, reps, []*ORMap[string]{put, rm}, []int{i, j})
		for _, r := range reps {
			_, ok := r.state.Get(key)
			require.Falsef(t, ok, "seed %d: %s still has %q after an observed remove:\n%s", seed, r.id, key, ormDescribe(r.state))
			require.Truef(t, r.state.Equal(reps[0].state, ormEqString), "seed %d: %s diverged after remove round", seed, r.id)
			ormRequireWellFormed(t, seed, r.state)
		}
	}
}
