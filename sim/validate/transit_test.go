package validate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The transit log pairs a frame's two ends by receiver and bytes,
// identical frames in the order they were sent, and measures nothing
// before it starts.
func TestTransitLogPairsFrames(t *testing.T) {
	l := newTransitLog()
	t0 := time.Unix(1000, 0)
	l.Sent("b", []byte("early"), t0)
	l.start()
	l.Arrived("b", []byte("early"), t0.Add(time.Millisecond))
	l.Sent("b", []byte("x"), t0)
	l.Sent("c", []byte("x"), t0.Add(time.Millisecond))
	l.Sent("b", []byte("x"), t0.Add(2*time.Millisecond))
	l.Arrived("c", []byte("x"), t0.Add(4*time.Millisecond))
	l.Arrived("b", []byte("x"), t0.Add(5*time.Millisecond))
	l.Arrived("b", []byte("x"), t0.Add(6*time.Millisecond))
	l.Arrived("b", []byte("y"), t0.Add(6*time.Millisecond))
	var ds []time.Duration
	for _, s := range l.spans {
		ds = append(ds, time.Duration(s.end-s.start))
	}
	require.Equal(t, []time.Duration{3 * time.Millisecond, 5 * time.Millisecond, 4 * time.Millisecond}, ds)
	require.Equal(t, 2, l.unmatchedFrames(), "the frame sent before the start, and one never sent")
	require.Empty(t, l.sent, "every sent frame arrived")
	q, n := l.quantiles()
	require.Equal(t, 3, n)
	require.Len(t, q, DiskLoadQuantiles)
	require.Equal(t, 3*time.Millisecond, q[0])
	require.Equal(t, 4*time.Millisecond, q[50])
	require.Equal(t, 5*time.Millisecond, q[100])

	levels, frames := l.load()
	require.Equal(t, []int{3}, frames, "every frame in one level (fewer than RunLoadMinSamples)")
	require.Len(t, levels, 1)

	empty := newTransitLog()
	q, n = empty.quantiles()
	require.Nil(t, q)
	require.Zero(t, n)
}
