package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// DiskLoadLevel is the latency measured with Writers operations in
// flight at once: for disk_load, synced writes by concurrent writers; for
// transit_load, messages in transit between members' loops. Quantiles
// are evenly spaced quantiles of the measured latencies, from the fastest
// (q=0) to the slowest (q=1).
type DiskLoadLevel struct {
	Writers   int             `yaml:"writers" json:"writers"`
	Quantiles []time.Duration `yaml:"quantiles" json:"quantiles_ns"`
}

// MaxLoadLevels bounds the levels of Topology.DiskLoad and TransitLoad.
const MaxLoadLevels = 64

// Bounds on a load level's operations in flight: synced writers on one
// disk, messages in transit on one host.
const (
	maxDiskWriters     = 1024
	maxTransitMessages = 1 << 20
)

// maxQuantiles bounds a measured latency distribution given as evenly
// spaced quantiles (disk_load levels, handoff_latency).
const maxQuantiles = 1001

// validateQuantiles checks a measured latency distribution: 2 to
// maxQuantiles evenly spaced quantiles, none decreasing, each at most a
// minute and above 0 (or at 0 too, with zeroOK).
func validateQuantiles(q []time.Duration, zeroOK bool) error {
	lo := "(0"
	if zeroOK {
		lo = "[0"
	}
	switch {
	case len(q) < 2 || len(q) > maxQuantiles:
		return fmt.Errorf("%d quantiles, want 2 to %d", len(q), maxQuantiles)
	case q[0] < 0 || (q[0] == 0 && !zeroOK) || slices.Max(q) > time.Minute:
		return fmt.Errorf("quantiles must lie in %s, 1m]", lo)
	case !slices.IsSorted(q):
		return fmt.Errorf("quantiles must not decrease")
	}
	return nil
}

// validateLoadLevels checks the levels of a latency by load (field
// disk_load or transit_load), each at most maxWriters in flight.
func validateLoadLevels(field string, levels []DiskLoadLevel, maxWriters int) error {
	if len(levels) > MaxLoadLevels {
		return fmt.Errorf("%s: %d levels, want at most %d", field, len(levels), MaxLoadLevels)
	}
	for i, l := range levels {
		switch {
		case l.Writers < 1 || l.Writers > maxWriters:
			return fmt.Errorf("%s[%d]: writers %d, want 1 to %d", field, i, l.Writers, maxWriters)
		case i > 0 && l.Writers <= levels[i-1].Writers:
			return fmt.Errorf("%s[%d]: writers %d, want more than the level before (%d)", field, i, l.Writers, levels[i-1].Writers)
		}
		if err := validateQuantiles(l.Quantiles, false); err != nil {
			return fmt.Errorf("%s[%d]: %w", field, i, err)
		}
	}
	return nil
}

// byLoad is a latency that depends on how many operations are in flight
// when one starts, drawn from latencies measured at that concurrency.
//
// As a disk (Topology.DiskLoad), unlike FIFO channels or a deterministic
// journal, it reproduces both the rise of the synced-write latency with
// load and its spread under load, which on a journaling file system comes
// from commits that other writers' fsyncs make wait. As the host's
// transit (Topology.TransitLoad) it makes a message's time between two
// members' loops grow with the messages in transit beside it, which share
// the host's cores: the traffic a write's own spread makes slows that
// spread, as it does on a real host.
type byLoad struct {
	levels []DiskLoadLevel
	spans  []span // operations scheduled, not yet over at the engine's time
}

type span struct{ start, end int64 }

// run returns when an operation starting at start ends (a write is
// durable, a message in its receiver's inbox). now is the engine's time:
// operations over by then can no longer overlap a new one (every
// operation starts at or after the time it is scheduled).
func (d *byLoad) run(rng *rand.Rand, now, start int64) int64 {
	k := 1
	for i := 0; i < len(d.spans); {
		s := d.spans[i]
		if s.end <= now {
			d.spans[i] = d.spans[len(d.spans)-1]
			d.spans = d.spans[:len(d.spans)-1]
			continue
		}
		if s.start <= start && start < s.end {
			k++
		}
		i++
	}
	end := start + d.latency(rng.Float64(), k)
	d.spans = append(d.spans, span{start, end})
	return end
}

// latency is the u-quantile of the latency with k writers in flight,
// linear between the measured quantiles and between the measured levels
// that bracket k (the nearest level outside the measured range).
func (d *byLoad) latency(u float64, k int) int64 {
	hi, found := slices.BinarySearchFunc(d.levels, k, func(l DiskLoadLevel, k int) int { return l.Writers - k })
	switch {
	case found:
		return quantileAt(d.levels[hi].Quantiles, u)
	case hi == 0:
		return quantileAt(d.levels[0].Quantiles, u)
	case hi == len(d.levels):
		return quantileAt(d.levels[hi-1].Quantiles, u)
	}
	lo := d.levels[hi-1]
	f := float64(k-lo.Writers) / float64(d.levels[hi].Writers-lo.Writers)
	return int64((1-f)*float64(quantileAt(lo.Quantiles, u)) + f*float64(quantileAt(d.levels[hi].Quantiles, u)))
}

// quantileAt interpolates evenly spaced quantiles q at u in [0, 1).
func quantileAt(q []time.Duration, u float64) int64 {
	pos := u * float64(len(q)-1)
	i := int(pos)
	if i >= len(q)-1 {
		return int64(q[len(q)-1])
	}
	f := pos - float64(i)
	return int64((1-f)*float64(q[i]) + f*float64(q[i+1]))
}
