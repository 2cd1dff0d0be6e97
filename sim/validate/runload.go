package validate

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/lattice-federation/lattice/sim"
)

// RunLoadMinSamples is how many synced commits a concurrency level needs
// in the real run to become a level of the run's disk by load: fewer
// cannot give 101 quantiles worth the name.
const RunLoadMinSamples = 200

// commitSpan is one synced commit (or one frame in transit) of the real
// run, in nanoseconds since the measurement began.
type commitSpan struct{ start, end int64 }

func (s commitSpan) seconds() float64 { return time.Duration(s.end - s.start).Seconds() }

// runLoad is the synced-commit latency the real members' stores showed,
// by how many synced commits were in flight when each began (itself
// included), as disk_load levels. Concurrencies seen fewer than minSamples
// times are pooled with their neighbours, in order, until each group has
// minSamples commits (a short last group joins the one before), and each
// group becomes a level at its median concurrency: no commit is dropped,
// so the rare high loads still lift the latency the simulator draws there.
// Unlike the probe's closed-loop writers, these commits ran beside the
// members' CPU work and at the run's own mix of loads. counts is how many
// commits each level holds. A group takes more than minSamples commits
// where that keeps the levels within sim.MaxLoadLevels. The frames of the
// real run in transit are grouped the same way.
func runLoad(spans []commitSpan, minSamples int) ([]sim.DiskLoadLevel, []int) {
	if len(spans) == 0 {
		return nil, nil
	}
	minSamples = max(minSamples, (len(spans)+sim.MaxLoadLevels-1)/sim.MaxLoadLevels)
	starts := make([]int64, len(spans))
	ends := make([]int64, len(spans))
	for i, s := range spans {
		starts[i], ends[i] = s.start, s.end
	}
	slices.Sort(starts)
	slices.Sort(ends)
	byLoad := map[int][]float64{}
	for _, s := range spans {
		// Commits begun by s.start, less those over by then.
		begun := sort.Search(len(starts), func(i int) bool { return starts[i] > s.start })
		over := sort.Search(len(ends), func(i int) bool { return ends[i] > s.start })
		k := max(1, begun-over)
		byLoad[k] = append(byLoad[k], s.seconds())
	}
	type group struct {
		ks  []int // each commit's concurrency, ascending
		lat []float64
	}
	var groups []group
	var cur group
	for _, k := range slices.Sorted(maps.Keys(byLoad)) {
		for _, l := range byLoad[k] {
			cur.ks = append(cur.ks, k)
			cur.lat = append(cur.lat, l)
		}
		if len(cur.lat) >= minSamples {
			groups, cur = append(groups, cur), group{}
		}
	}
	if len(cur.lat) > 0 {
		if n := len(groups); n > 0 {
			groups[n-1].ks = append(groups[n-1].ks, cur.ks...)
			groups[n-1].lat = append(groups[n-1].lat, cur.lat...)
		} else {
			groups = append(groups, cur)
		}
	}
	levels := make([]sim.DiskLoadLevel, len(groups))
	counts := make([]int, len(groups))
	for i, g := range groups {
		slices.Sort(g.lat)
		levels[i], counts[i] = loadLevel(g.ks[(len(g.ks)-1)/2], g.lat), len(g.lat)
	}
	return levels, counts
}
