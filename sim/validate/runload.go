package validate

import (
	"slices"
	"sort"
	"time"

	"github.com/lattice-federation/lattice/sim"
)

// RunLoadMinSamples is how many synced commits a concurrency level needs
// in the real run to become a level of the run's disk by load: fewer
// cannot give 101 quantiles worth the name.
const RunLoadMinSamples = 200

// commitSpan is one synced commit of the real run, in nanoseconds since
// the measurement began.
type commitSpan struct{ start, end int64 }

// runLoad is the synced-commit latency the real members' stores showed,
// by how many synced commits were in flight when each began (itself
// included), as disk_load levels: every concurrency seen at least
// minSamples times, or, in a run too short for any, one level of all its
// commits at the most frequent concurrency. Unlike the probe's closed-loop writers, these commits
// ran beside the members' CPU work and at the run's own mix of loads.
// counts is how many commits each level holds.
func runLoad(spans []commitSpan, minSamples int) ([]sim.DiskLoadLevel, []int) {
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
		byLoad[k] = append(byLoad[k], time.Duration(s.end-s.start).Seconds())
	}
	var levels []sim.DiskLoadLevel
	if len(spans) == 0 {
		return nil, nil
	}
	common := 0
	for k, lat := range byLoad {
		if common == 0 || len(lat) > len(byLoad[common]) || (len(lat) == len(byLoad[common]) && k < common) {
			common = k
		}
	}
	for k, lat := range byLoad {
		if len(lat) < minSamples {
			continue
		}
		slices.Sort(lat)
		levels = append(levels, loadLevel(k, lat))
	}
	if len(levels) == 0 {
		all := make([]float64, 0, len(spans))
		for _, lat := range byLoad {
			all = append(all, lat...)
		}
		slices.Sort(all)
		return []sim.DiskLoadLevel{loadLevel(common, all)}, []int{len(all)}
	}
	slices.SortFunc(levels, func(a, b sim.DiskLoadLevel) int { return a.Writers - b.Writers })
	counts := make([]int, len(levels))
	for i, l := range levels {
		counts[i] = len(byLoad[l.Writers])
	}
	return levels, counts
}
