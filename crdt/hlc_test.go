package crdt

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakePhysClock is a PhysicalClock the test moves by hand.
type fakePhysClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakePhysClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Set jumps to t, which may be in the past.
func (f *fakePhysClock) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

// Advance moves by d, which may be negative.
func (f *fakePhysClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// hlcTestBase is an arbitrary recent wall-clock instant, in milliseconds.
const hlcTestBase = int64(1_700_000_000_000)

func TestTimestampPacking(t *testing.T) {
	tests := []struct {
		name    string
		phys    int64
		logical uint16
	}{
		{"zero", 0, 0},
		{"typical", hlcTestBase, 7},
		{"max logical", hlcTestBase, logicalMask},
		{"max physical", 1<<48 - 1, logicalMask},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := MakeTimestamp(tt.phys, tt.logical)
			assert.Equal(t, tt.phys, ts.Physical())
			assert.Equal(t, tt.logical, ts.Logical())
			assert.Equal(t, time.UnixMilli(tt.phys).UTC(), ts.Time())
		})
	}
	// Ordering is a plain integer compare: physical first, then logical.
	assert.Less(t, MakeTimestamp(hlcTestBase, logicalMask), MakeTimestamp(hlcTestBase+1, 0))
	assert.Less(t, MakeTimestamp(hlcTestBase, 1), MakeTimestamp(hlcTestBase, 2))
	assert.Equal(t, "2023-11-14T22:13:20.000Z+3", MakeTimestamp(hlcTestBase, 3).String())
}

func TestClockMonotonic(t *testing.T) {
	ts := MakeTimestamp
	b := hlcTestBase
	tests := []struct {
		name string
		// steps[i] moves the physical clock before the i-th Now.
		steps []time.Duration
		want  []Timestamp
	}{
		{
			name:  "physical clock stands still",
			steps: []time.Duration{0, 0, 0, 0},
			want:  []Timestamp{ts(b, 0), ts(b, 1), ts(b, 2), ts(b, 3)},
		},
		{
			name:  "physical clock advances",
			steps: []time.Duration{0, time.Millisecond, 0, 5 * time.Millisecond},
			want:  []Timestamp{ts(b, 0), ts(b+1, 0), ts(b+1, 1), ts(b+6, 0)},
		},
		{
			name:  "physical clock goes backwards",
			steps: []time.Duration{0, -time.Second, -time.Hour, time.Hour + 999*time.Millisecond, 2 * time.Millisecond},
			want:  []Timestamp{ts(b, 0), ts(b, 1), ts(b, 2), ts(b, 3), ts(b+1, 0)},
		},
		{
			name:  "sub-millisecond steps do not advance physical time",
			steps: []time.Duration{0, 300 * time.Microsecond, 300 * time.Microsecond, 300 * time.Microsecond},
			want:  []Timestamp{ts(b, 0), ts(b, 1), ts(b, 2), ts(b, 3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Len(t, tt.steps, len(tt.want))
			phys := &fakePhysClock{now: time.UnixMilli(b)}
			c := NewClock(phys, time.Second)
			var prev Timestamp
			for i, step := range tt.steps {
				phys.Advance(step)
				got := c.Now()
				assert.Equalf(t, tt.want[i], got, "reading %d: got %s want %s", i, got, tt.want[i])
				assert.Greaterf(t, got, prev, "reading %d not monotonic", i)
				assert.Equal(t, got, c.Last())
				prev = got
			}
		})
	}
}

func TestClockLogicalOverflowBumpsPhysical(t *testing.T) {
	b := hlcTestBase
	tests := []struct {
		name  string
		setup func(c *Clock)
		want  []Timestamp
	}{
		{
			name: "many readings in one millisecond",
			setup: func(c *Clock) {
				for i := 0; i <= logicalMask; i++ {
					c.Now()
				}
				require.Equal(t, MakeTimestamp(b, logicalMask), c.Last())
			},
			want: []Timestamp{MakeTimestamp(b+1, 0), MakeTimestamp(b+1, 1)},
		},
		{
			name:  "restored at max logical",
			setup: func(c *Clock) { c.Restore(MakeTimestamp(b, logicalMask)) },
			want:  []Timestamp{MakeTimestamp(b+1, 0), MakeTimestamp(b+1, 1)},
		},
		{
			name: "observed remote at max logical",
			setup: func(c *Clock) {
				require.NoError(t, c.Observe(MakeTimestamp(b+1000, logicalMask)))
			},
			want: []Timestamp{MakeTimestamp(b+1001, 0), MakeTimestamp(b+1001, 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock(&fakePhysClock{now: time.UnixMilli(b)}, 5*time.Second)
			tt.setup(c)
			for i, want := range tt.want {
				assert.Equalf(t, want, c.Now(), "reading %d", i)
			}
		})
	}
}

func TestClockObserve(t *testing.T) {
	b := hlcTestBase
	const drift = 5 * time.Second
	tests := []struct {
		name     string
		remote   Timestamp
		wantErr  bool
		wantLast Timestamp // Last() after Observe, given Last() was ts(b, 0)
		wantNext Timestamp
	}{
		{
			name:     "remote behind is not adopted",
			remote:   MakeTimestamp(b-1000, 9),
			wantLast: MakeTimestamp(b, 0),
			wantNext: MakeTimestamp(b, 1),
		},
		{
			name:     "remote ahead within drift is adopted",
			remote:   MakeTimestamp(b+2000, 4),
			wantLast: MakeTimestamp(b+2000, 4),
			wantNext: MakeTimestamp(b+2000, 5),
		},
		{
			name:     "remote exactly at max drift is adopted",
			remote:   MakeTimestamp(b+drift.Milliseconds(), 0),
			wantLast: MakeTimestamp(b+drift.Milliseconds(), 0),
			wantNext: MakeTimestamp(b+drift.Milliseconds(), 1),
		},
		{
			name:     "remote beyond max drift is rejected",
			remote:   MakeTimestamp(b+drift.Milliseconds()+1, 0),
			wantErr:  true,
			wantLast: MakeTimestamp(b, 0),
			wantNext: MakeTimestamp(b, 1),
		},
		{
			name:     "remote far in the future is rejected",
			remote:   MakeTimestamp(b+365*24*3600*1000, 0),
			wantErr:  true,
			wantLast: MakeTimestamp(b, 0),
			wantNext: MakeTimestamp(b, 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock(&fakePhysClock{now: time.UnixMilli(b)}, drift)
			require.Equal(t, MakeTimestamp(b, 0), c.Now())

			// Check must agree with Observe but never adopt.
			checkErr := c.Check(tt.remote)
			assert.Equal(t, MakeTimestamp(b, 0), c.Last(), "Check adopted the timestamp")

			err := c.Observe(tt.remote)
			if tt.wantErr {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrClockDrift), "error %v does not wrap ErrClockDrift", err)
				assert.True(t, errors.Is(checkErr, ErrClockDrift), "Check error %v does not wrap ErrClockDrift", checkErr)
			} else {
				require.NoError(t, err)
				require.NoError(t, checkErr)
			}
			assert.Equal(t, tt.wantLast, c.Last())
			next := c.Now()
			assert.Equal(t, tt.wantNext, next)
			if !tt.wantErr {
				assert.Greater(t, next, tt.remote, "reading after Observe must order after the remote stamp")
			} else {
				assert.Less(t, next, tt.remote, "a rejected stamp must not drag the clock forward")
			}
		})
	}
}

func TestClockDefaults(t *testing.T) {
	phys := &fakePhysClock{now: time.UnixMilli(hlcTestBase)}
	c := NewClock(phys, 0)
	within := MakeTimestamp(hlcTestBase+DefaultMaxDrift.Milliseconds(), 0)
	beyond := MakeTimestamp(hlcTestBase+DefaultMaxDrift.Milliseconds()+1, 0)
	assert.NoError(t, c.Check(within))
	assert.ErrorIs(t, c.Check(beyond), ErrClockDrift)

	wall := NewClock(nil, -time.Second)
	now := time.Now()
	got := wall.Now().Time()
	assert.WithinDuration(t, now, got, time.Minute, "nil PhysicalClock must fall back to the wall clock")
	assert.ErrorIs(t, wall.Check(MakeTimestamp(now.Add(time.Hour).UnixMilli(), 0)), ErrClockDrift)
}

func TestClockRestore(t *testing.T) {
	b := hlcTestBase
	tests := []struct {
		name     string
		restore  Timestamp
		wantNext Timestamp
	}{
		// The physical clock went back a day across a restart: readings
		// must continue after the persisted stamp.
		{"persisted stamp ahead of wall clock", MakeTimestamp(b+86_400_000, 41), MakeTimestamp(b+86_400_000, 42)},
		{"persisted stamp behind wall clock", MakeTimestamp(b-1, 3), MakeTimestamp(b, 1)},
		{"zero", 0, MakeTimestamp(b, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock(&fakePhysClock{now: time.UnixMilli(b)}, time.Second)
			require.Equal(t, MakeTimestamp(b, 0), c.Now())
			c.Restore(tt.restore)
			assert.Equal(t, tt.wantNext, c.Now())
			// Restoring an older stamp never lowers the clock.
			last := c.Last()
			c.Restore(last - 1)
			assert.Equal(t, last, c.Last())
		})
	}
}

func TestClockConcurrentReadingsUnique(t *testing.T) {
	phys := &fakePhysClock{now: time.UnixMilli(hlcTestBase)}
	c := NewClock(phys, time.Second)
	const workers, perWorker = 8, 500
	out := make([][]Timestamp, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if i%100 == 0 {
					// Interleave observations and a wobbling physical clock.
					_ = c.Observe(MakeTimestamp(hlcTestBase+int64(i), 0))
					phys.Advance(time.Duration(w%3-1) * time.Millisecond)
				}
				out[w] = append(out[w], c.Now())
			}
		}()
	}
	wg.Wait()
	seen := make(map[Timestamp]bool, workers*perWorker)
	for w := range out {
		for i, ts := range out[w] {
			require.Falsef(t, seen[ts], "duplicate reading %s", ts)
			seen[ts] = true
			if i > 0 {
				require.Greater(t, ts, out[w][i-1], "readings of one goroutine must increase")
			}
		}
	}
}
