package sim

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEngineOrdersByTimeThenInsertion(t *testing.T) {
	var e engine
	e.Schedule(30, evProbe, 1, 0)
	e.Schedule(10, evProbe, 2, 0)
	e.Schedule(20, evProbe, 3, 0)
	e.Schedule(10, evProbe, 4, 0) // same time as node 2: after it (FIFO)
	var got []int32
	for {
		ev, ok := e.Next(1 << 62)
		if !ok {
			break
		}
		got = append(got, ev.node)
		assert.Equal(t, ev.at, e.Now())
	}
	assert.Equal(t, []int32{2, 4, 3, 1}, got)
	assert.Equal(t, uint64(4), e.Processed())
}

func TestEngineStopsAtUntilAndClampsThePast(t *testing.T) {
	var e engine
	e.Schedule(100, evSample, -1, 0)
	_, ok := e.Next(99)
	assert.False(t, ok, "an event after until must not run")
	ev, ok := e.Next(100)
	require.True(t, ok)
	assert.Equal(t, int64(100), ev.at)
	e.Schedule(5, evSample, -1, 7) // in the past: runs now, not before now
	ev, ok = e.Next(100)
	require.True(t, ok)
	assert.Equal(t, int64(100), ev.at)
	assert.Equal(t, int64(7), ev.arg)
	e.AdvanceTo(500)
	assert.Equal(t, int64(500), e.Now())
}

func TestEngineHeapMatchesSort(t *testing.T) {
	var e engine
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	for i := range n {
		e.Schedule(rng.Int64N(1000), evProbe, int32(i), 0)
	}
	prev := event{at: -1}
	for range n {
		ev, ok := e.Next(1 << 62)
		require.True(t, ok)
		require.True(t, prev.less(&ev), "events out of order: %+v then %+v", prev, ev)
		prev = ev
	}
	assert.Zero(t, e.Len())
}

// The calendar queue pops exactly what one sorted list of every event
// would, with schedules interleaved with pops at every distance (inside
// the current slot, within the calendar, beyond it, in the past), and
// pops bounded by until.
func TestEngineCalendarMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 200 {
		var e engine
		var ref []event // pending, unsorted
		var seq uint64
		base := rng.Int64N(1 << 50)
		e.AdvanceTo(base)
		now := base
		horizons := []int64{1 << 10, 1 << slotShift, 3 << slotShift, calendarSlots << slotShift, 3 * calendarSlots << slotShift}
		for step := range 2000 {
			if rng.IntN(3) > 0 {
				at := now - 1000 + rng.Int64N(horizons[rng.IntN(len(horizons))])
				seq++
				e.Schedule(at, evProbe, int32(step), int64(seq))
				ref = append(ref, event{at: max(at, now), seq: seq, kind: evProbe, node: int32(step), arg: int64(seq)})
				continue
			}
			until := now + rng.Int64N(horizons[rng.IntN(len(horizons))])
			for range 1 + rng.IntN(8) {
				best := -1
				for i := range ref {
					if ref[i].at <= until && (best < 0 || ref[i].less(&ref[best])) {
						best = i
					}
				}
				ev, ok := e.Next(until)
				require.Equal(t, best >= 0, ok, "round %d step %d: pop due by %d", round, step, until)
				if !ok {
					break
				}
				require.Equal(t, ref[best].seq, ev.seq, "round %d step %d", round, step)
				require.Equal(t, ref[best], ev)
				ref = slices.Delete(ref, best, best+1)
				now = ev.at
				require.Equal(t, now, e.Now())
			}
			require.Equal(t, len(ref), e.Len())
		}
	}
}

// BenchmarkEngine measures raw event throughput: a steady queue of 10,000
// pending events (about what 10,000 members keep), each pop scheduling one
// new event, as the simulator's timers do.
func BenchmarkEngine(b *testing.B) {
	var e engine
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10_000 {
		e.Schedule(rng.Int64N(1e9), evProbe, int32(i), 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ev, _ := e.Next(1 << 62)
		e.Schedule(ev.at+1e9+rng.Int64N(1e6), evProbe, ev.node, 0)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func TestBitsetBeyondCapacity(t *testing.T) {
	b := newBitset(64)
	b.set(3)
	assert.True(t, b.has(3))
	assert.False(t, b.has(200), "a member that joined after the set was made is not in it")
	b.clear(200) // no panic
	b = b.grow(300)
	b.set(299)
	assert.True(t, b.has(299))
	assert.Equal(t, 2, b.count())
}

// A burst's bucket is let go once drained: as the calendar turns, every
// bucket would otherwise keep a burst's worth of memory.
func TestEngineReleasesBurstBuckets(t *testing.T) {
	var e engine
	for round := range 3 {
		at := int64(round+1) << (slotShift + 4) // a later slot each round
		for i := range 10 * keepBucket {
			e.Schedule(at+int64(i), evProbe, 0, 0)
		}
		for range 10 * keepBucket {
			_, ok := e.Next(1 << 62)
			require.True(t, ok)
		}
	}
	for i, b := range e.buckets {
		require.LessOrEqual(t, cap(b), keepBucket, "bucket %d kept a burst's room", i)
	}
	require.Zero(t, e.Len())
}
