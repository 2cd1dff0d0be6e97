package validate

import (
	"math"
	"runtime/metrics"
	"time"
)

// schedLatencyMetric is the Go runtime's distribution of the time
// goroutines spent runnable before running: on a loaded host, what every
// goroutine hand-off waits for a core.
const schedLatencyMetric = "/sched/latencies:seconds"

// TransitHandoffs is how many goroutine hand-offs a real anti-entropy
// message crosses between its sender's loop and its receiver's inbox,
// counted on the code path (gossip.Node.send to serveSync): the send
// goroutine starting, the sender's QUIC connection loop, the receiver's
// packet reader and connection loop, serveSync's stream accept, the
// frame's reader goroutine, and the receiver's loop taking it from its
// inbox.
const TransitHandoffs = 7

// schedSnapshot is the runtime's scheduling-latency histogram at a moment.
type schedSnapshot struct {
	buckets []float64
	counts  []uint64
}

func readSched() schedSnapshot {
	s := []metrics.Sample{{Name: schedLatencyMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return schedSnapshot{}
	}
	h := s[0].Value.Float64Histogram()
	return schedSnapshot{buckets: h.Buckets, counts: append([]uint64(nil), h.Counts...)}
}

// schedLatencySince is the scheduling latency of the goroutines run since
// before, as DiskLoadQuantiles evenly spaced quantiles (nil when none
// ran or the runtime does not report it).
func schedLatencySince(before schedSnapshot) []time.Duration {
	now := readSched()
	if len(now.counts) == 0 || len(before.counts) != len(now.counts) {
		return nil
	}
	counts := make([]uint64, len(now.counts))
	var total uint64
	for i := range counts {
		counts[i] = now.counts[i] - before.counts[i]
		total += counts[i]
	}
	if total == 0 {
		return nil
	}
	return histogramQuantiles(now.buckets, counts, total, DiskLoadQuantiles)
}

// histogramQuantiles interpolates n evenly spaced quantiles of a
// histogram (counts[i] in [buckets[i], buckets[i+1]); infinite bounds
// are clamped to the finite neighbour), non-decreasing.
func histogramQuantiles(buckets []float64, counts []uint64, total uint64, n int) []time.Duration {
	finite := func(i int) float64 {
		b := buckets[i]
		switch {
		case math.IsInf(b, -1):
			return max(0, buckets[i+1])
		case math.IsInf(b, 1):
			return buckets[i-1]
		}
		return max(0, b)
	}
	out := make([]time.Duration, n)
	var cum uint64
	i := 0
	for k := range out {
		target := float64(k) / float64(n-1) * float64(total)
		for i < len(counts)-1 && (counts[i] == 0 || float64(cum+counts[i]) < target) {
			cum += counts[i]
			i++
		}
		lo, hi := finite(i), finite(i+1)
		f := 0.0
		if counts[i] > 0 {
			f = min(1, max(0, (target-float64(cum))/float64(counts[i])))
		}
		out[k] = time.Duration((lo + f*(hi-lo)) * 1e9)
		if k > 0 {
			out[k] = max(out[k], out[k-1])
		}
	}
	return out
}
