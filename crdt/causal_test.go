package crdt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// causalCtx builds a context from a vector and cloud dots, via Add so the
// result is compacted the way production code would leave it.
func causalCtx(vv VersionVector, cloud ...Dot) *Context {
	c := NewContext()
	for _, id := range vv.Replicas() {
		for s := uint64(1); s <= vv.Get(id); s++ {
			c.Add(Dot{Replica: id, Seq: s})
		}
	}
	for _, d := range cloud {
		c.Add(d)
	}
	return c
}

func TestContextAddCompactsOutOfOrder(t *testing.T) {
	a := ReplicaID("a")
	tests := []struct {
		name      string
		seqs      []uint64
		wantVV    uint64
		wantCloud []Dot
	}{
		{"in order", []uint64{1, 2, 3}, 3, []Dot{}},
		{"reversed", []uint64{3, 2, 1}, 3, []Dot{}},
		{"gap stays in cloud", []uint64{1, 3, 5}, 1, []Dot{{a, 3}, {a, 5}}},
		{"gap filled later", []uint64{4, 2, 5, 1, 3}, 5, []Dot{}},
		{"partially filled", []uint64{2, 6, 1, 4}, 2, []Dot{{a, 4}, {a, 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewContext()
			for _, s := range tt.seqs {
				d := Dot{Replica: a, Seq: s}
				require.False(t, c.Contains(d), "dot %s seen before it was added", d)
				require.True(t, c.Add(d), "first Add of %s must report new", d)
				require.True(t, c.Contains(d))
				require.False(t, c.Add(d), "second Add of %s must report not new", d)
			}
			assert.Equal(t, tt.wantVV, c.VV.Get(a))
			assert.Equal(t, tt.wantCloud, c.CloudDots())
		})
	}

	t.Run("zero seq is not a dot", func(t *testing.T) {
		c := NewContext()
		assert.False(t, c.Add(Dot{Replica: a}))
		assert.Empty(t, c.CloudDots())
		assert.Zero(t, c.VV.Get(a))
	})
}

// TestContextAddRandomOrder adds the dots of several replicas in random
// interleavings and checks Contains and the compaction invariant throughout.
func TestContextAddRandomOrder(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0xca05a1))
		replicas := []ReplicaID{"a", "b", "c"}
		var dots []Dot
		for _, id := range replicas {
			for s := uint64(1); s <= uint64(1+rng.IntN(12)); s++ {
				dots = append(dots, Dot{Replica: id, Seq: s})
			}
		}
		rng.Shuffle(len(dots), func(i, j int) { dots[i], dots[j] = dots[j], dots[i] })

		c := NewContext()
		added := map[Dot]bool{}
		for _, d := range dots {
			require.Truef(t, c.Add(d), "seed %d: Add(%s)", seed, d)
			added[d] = true
			for _, probe := range dots {
				require.Equalf(t, added[probe], c.Contains(probe), "seed %d: Contains(%s)", seed, probe)
			}
			// Compaction invariant: nothing in the cloud is covered by, or
			// adjacent to, the vector.
			for _, cd := range c.CloudDots() {
				require.Greaterf(t, cd.Seq, c.VV.Get(cd.Replica)+1, "seed %d: cloud dot %s not compacted (vv %s)", seed, cd, c.VV)
			}
		}
		require.Emptyf(t, c.CloudDots(), "seed %d: all gaps filled, cloud must be empty", seed)
	}
}

func TestContextNext(t *testing.T) {
	c := NewContext()
	assert.Equal(t, Dot{"a", 1}, c.Next("a"))
	assert.Equal(t, Dot{"a", 2}, c.Next("a"))
	assert.Equal(t, Dot{"b", 1}, c.Next("b"))
	assert.True(t, c.Contains(Dot{"a", 2}))

	// A dot of ours seen out of order (e.g. replayed from elsewhere) is
	// skipped over once the gap closes.
	c.Add(Dot{"a", 4})
	assert.Equal(t, Dot{"a", 3}, c.Next("a"))
	assert.Equal(t, uint64(4), c.VV.Get("a"))
	assert.Empty(t, c.CloudDots())
	assert.Equal(t, Dot{"a", 5}, c.Next("a"))
}

func TestContextMerge(t *testing.T) {
	tests := []struct {
		name      string
		a, b      *Context
		wantVV    VersionVector
		wantCloud []Dot
	}{
		{
			name:      "disjoint",
			a:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2})),
			b:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"b": 3})),
			wantVV:    MakeVersionVector(map[ReplicaID]uint64{"a": 2, "b": 3}),
			wantCloud: []Dot{},
		},
		{
			name:      "vector subsumes cloud",
			a:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 1}), Dot{"a", 3}, Dot{"a", 7}),
			b:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 5})),
			wantVV:    MakeVersionVector(map[ReplicaID]uint64{"a": 5}),
			wantCloud: []Dot{{"a", 7}},
		},
		{
			name:      "vector then cloud close gaps",
			a:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2, "b": 0}), Dot{"a", 5}, Dot{"b", 3}),
			b:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 4, "b": 1}), Dot{"c", 2}, Dot{"a", 6}),
			wantVV:    MakeVersionVector(map[ReplicaID]uint64{"a": 6, "b": 1}),
			wantCloud: []Dot{{"b", 3}, {"c", 2}},
		},
		{
			name:      "cloud fills the other's gap",
			a:         causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 1}), Dot{"a", 3}),
			b:         causalCtx(VersionVector{}, Dot{"a", 2}),
			wantVV:    MakeVersionVector(map[ReplicaID]uint64{"a": 3}),
			wantCloud: []Dot{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origA, origB := tt.a.Clone(), tt.b.Clone()
			ab := tt.a.Clone()
			ab.Merge(tt.b)
			want := &Context{VV: tt.wantVV}
			for _, d := range tt.wantCloud {
				want.Add(d)
			}
			assert.Truef(t, ab.Equal(want), "merge = %s %v, want %s %v", ab.VV, ab.CloudDots(), tt.wantVV, tt.wantCloud)
			assert.Equal(t, tt.wantCloud, ab.CloudDots())

			ba := tt.b.Clone()
			ba.Merge(tt.a)
			assert.True(t, ab.Equal(ba), "merge must commute: %s %v vs %s %v", ab.VV, ab.CloudDots(), ba.VV, ba.CloudDots())

			again := ab.Clone()
			again.Merge(tt.b)
			again.Merge(tt.a)
			again.Merge(again)
			again.Merge(nil)
			assert.True(t, again.Equal(ab), "merge must be idempotent")

			assert.True(t, tt.a.Equal(origA), "Clone shared state with its source")
			assert.True(t, tt.b.Equal(origB), "merge modified its argument")
		})
	}
}

func TestContextEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b *Context
		want bool
	}{
		{"empty", NewContext(), NewContext(), true},
		{"zero entry equals missing", &Context{VV: MakeVersionVector(map[ReplicaID]uint64{"a": 0})}, NewContext(), true},
		{"same", causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 3}), Dot{"b", 2}), causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 3}), Dot{"b", 2}), true},
		{"vector differs", causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 3})), causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2})), false},
		{"extra replica", causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 3})), causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 3, "b": 1})), false},
		{"cloud differs", causalCtx(VersionVector{}, Dot{"b", 2}), causalCtx(VersionVector{}, Dot{"b", 3}), false},
		{"cloud vs none", causalCtx(VersionVector{}, Dot{"b", 2}), NewContext(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.a.Equal(tt.b))
			assert.Equal(t, tt.want, tt.b.Equal(tt.a), "Equal must be symmetric")
		})
	}
}

func TestContextCloneIsIndependent(t *testing.T) {
	c := causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2}), Dot{"b", 4})
	cp := c.Clone()
	require.True(t, cp.Equal(c))
	cp.Add(Dot{"a", 3})
	cp.Add(Dot{"c", 9})
	assert.Equal(t, uint64(2), c.VV.Get("a"))
	assert.Equal(t, []Dot{{"b", 4}}, c.CloudDots())
	assert.False(t, cp.Equal(c))
}

func TestContextCloudDotsSorted(t *testing.T) {
	c := causalCtx(VersionVector{}, Dot{"b", 9}, Dot{"a", 12}, Dot{"b", 3}, Dot{"a", 10}, Dot{"c", 2})
	assert.Equal(t, []Dot{{"a", 10}, {"a", 12}, {"b", 3}, {"b", 9}, {"c", 2}}, c.CloudDots())
}

func TestVersionVector(t *testing.T) {
	vv := func(m map[ReplicaID]uint64) VersionVector { return MakeVersionVector(m) }
	t.Run("merge is pointwise max", func(t *testing.T) {
		v := vv(map[ReplicaID]uint64{"a": 3, "b": 1})
		v.Merge(vv(map[ReplicaID]uint64{"a": 2, "b": 4, "c": 1, "d": 0}))
		assert.Equal(t, map[ReplicaID]uint64{"a": 3, "b": 4, "c": 1}, v.Map(), "a zero entry adds nothing")
		v.Merge(MakeVersionVector(map[ReplicaID]uint64{}))
		assert.Equal(t, map[ReplicaID]uint64{"a": 3, "b": 4, "c": 1}, v.Map())
	})
	// meet is what CollectGarbage's floor of every live member's report
	// rests on: a lattice meet, so the order reports come in (map order)
	// cannot change it.
	t.Run("meet is pointwise min", func(t *testing.T) {
		v := vv(map[ReplicaID]uint64{"a": 3, "b": 1, "c": 5, "e": 2})
		v.meet(vv(map[ReplicaID]uint64{"a": 2, "b": 4, "c": 0, "d": 7}))
		assert.Equal(t, map[ReplicaID]uint64{"a": 2, "b": 1}, v.Map(), "absent and zero entries drop out")
		v.meet(VersionVector{})
		assert.Zero(t, v.Len())
		rng := rand.New(rand.NewPCG(7, 11))
		random := func() VersionVector {
			var x VersionVector
			for range rng.IntN(12) {
				x.Set(ReplicaID(rune('a'+rng.IntN(16))), rng.Uint64N(6))
			}
			return x
		}
		meet := func(xs ...VersionVector) VersionVector {
			out := xs[0].Clone()
			for _, x := range xs[1:] {
				out.meet(x)
			}
			return out
		}
		nonZero := func(x VersionVector) map[ReplicaID]uint64 {
			x = x.Clone()
			x.dropZeros()
			return x.Map()
		}
		for round := range 300 {
			a, b, c := random(), random(), random()
			require.Equal(t, meet(a, b).Map(), meet(b, a).Map(), "round %d: commutative", round)
			require.Equal(t, meet(meet(a, b), c).Map(), meet(a, meet(b, c)).Map(), "round %d: associative", round)
			require.Equal(t, nonZero(a), meet(a, a).Map(), "round %d: idempotent", round)
		}
	})
	t.Run("covers", func(t *testing.T) {
		v := vv(map[ReplicaID]uint64{"a": 3})
		tests := []struct {
			d    Dot
			want bool
		}{
			{Dot{"a", 1}, true},
			{Dot{"a", 3}, true},
			{Dot{"a", 4}, false},
			{Dot{"b", 1}, false},
		}
		for _, tt := range tests {
			assert.Equalf(t, tt.want, v.Covers(tt.d), "Covers(%s)", tt.d)
		}
	})
	t.Run("clone replicas string", func(t *testing.T) {
		v := vv(map[ReplicaID]uint64{"c": 1, "a": 2, "b": 3})
		cp := v.Clone()
		cp.Set("a", 9)
		cp.Set("0", 1)
		assert.Equal(t, uint64(2), v.Get("a"))
		assert.Equal(t, []ReplicaID{"a", "b", "c"}, v.Replicas())
		assert.Equal(t, []ReplicaID{"0", "a", "b", "c"}, cp.Replicas())
		assert.Equal(t, "{a:2 b:3 c:1}", v.String())
		assert.Equal(t, "a:7", Dot{"a", 7}.String())
	})
	// The sorted-slice vector behaves as the map it replaced: random sets
	// and merges, applied to both, leave the same entries, in order.
	t.Run("agrees with a map", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 5))
		id := func() ReplicaID { return ReplicaID(rune('0' + rng.IntN(40))) } // enough for Merge to bisect
		for round := range 500 {
			var v VersionVector
			m := map[ReplicaID]uint64{}
			for range rng.IntN(30) {
				if rng.IntN(3) == 0 {
					k, n := id(), rng.Uint64N(5)
					v.Set(k, n)
					m[k] = n
					continue
				}
				om := map[ReplicaID]uint64{}
				for range rng.IntN(8) {
					om[id()] = rng.Uint64N(6)
				}
				v.Merge(vv(om))
				for k, n := range om {
					if n > m[k] {
						m[k] = n
					}
				}
			}
			require.Equal(t, m, v.Map(), "round %d", round)
			om := map[ReplicaID]uint64{}
			for range rng.IntN(10) {
				om[id()] = rng.Uint64N(6)
			}
			want := map[ReplicaID]uint64{}
			for k, n := range m {
				if n > om[k] {
					want[k] = n
				}
			}
			require.Equal(t, want, v.above(vv(om)).Map(), "round %d: above", round)
			lo := map[ReplicaID]uint64{}
			for k, n := range m {
				if x := min(n, om[k]); x > 0 {
					lo[k] = x
				}
			}
			met := v.Clone()
			met.meet(vv(om))
			require.Equal(t, lo, met.Map(), "round %d: meet", round)
			require.True(t, slices.IsSorted(met.Replicas()), "round %d: meet", round)
			require.True(t, slices.IsSorted(v.Replicas()), "round %d", round)
			for k := range 12 {
				r := ReplicaID(rune('a' + k))
				require.Equal(t, m[r], v.Get(r))
			}
		}
	})
}

func TestValidateReplicaID(t *testing.T) {
	long := make([]byte, MaxReplicaIDLen+1)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		id      ReplicaID
		wantErr bool
	}{
		{"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", false},
		{ReplicaID(long[:MaxReplicaIDLen]), false},
		{"", true},
		{ReplicaID(long), true},
		{"a b", true},
		{"a\nb", true},
		{"a\x7f", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.id), func(t *testing.T) {
			err := ValidateReplicaID(tt.id)
			if tt.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// beyond is what a context adds to another: merged into any context that
// includes the other, it gives what merging the whole would, and between
// equal contexts it is empty.
func TestContextBeyondProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	random := func() *Context {
		c := NewContext()
		for range rng.IntN(40) {
			c.Add(Dot{Replica: ReplicaID(rune('a' + rng.IntN(4))), Seq: 1 + rng.Uint64N(12)})
		}
		return c
	}
	for i := range 2000 {
		c, other, extra := random(), random(), random()
		holder := other.Clone()
		holder.Merge(extra) // any context that includes other
		want := holder.Clone()
		want.Merge(c)
		d := c.beyond(other)
		got := holder.Clone()
		got.Merge(d)
		require.True(t, want.Equal(got), "case %d: c %v, other %v: beyond %v", i, c.CloudDots(), other.CloudDots(), d.CloudDots())
		for _, dot := range d.CloudDots() {
			require.True(t, c.Contains(dot), "case %d: beyond holds %v, which c lacks", i, dot)
		}
		require.True(t, c.beyond(c).Equal(NewContext()), "case %d: a context adds nothing to itself", i)
		if other.Equal(c) {
			require.True(t, d.Equal(NewContext()))
		}
	}
	// Ranges: a cloud range held in part is sent whole; one held whole
	// (by the vector and a cloud range together) is not sent.
	c := causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 1}), Dot{"a", 4}, Dot{"a", 5}, Dot{"a", 6})
	require.Equal(t, []Dot{{"a", 4}, {"a", 5}, {"a", 6}}, c.beyond(causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 4}))).CloudDots())
	require.True(t, c.beyond(causalCtx(MakeVersionVector(map[ReplicaID]uint64{"a": 2}), Dot{"a", 4}, Dot{"a", 5}, Dot{"a", 6}, Dot{"a", 7})).Equal(NewContext()))
}
