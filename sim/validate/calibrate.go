package validate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/sim"
)

// Calibration is the validation scenario's model of this machine,
// measured rather than fitted to the results being compared:
//
//   - the synced store write a real member completes for every message it
//     handles (process_delay, log-normal with process_sigma), timed on a
//     fresh store;
//   - how many synced writes the disk completes at once (disk_channels):
//     the throughput of DiskProbeWriters concurrent writers over that of
//     one;
//   - how the disk's synced-write latency grows with load, as a journal
//     with group commit (disk_commit_per_write): from the throughput of as
//     many concurrent writers as the run has members (see JournalPerWrite);
//   - the synced-write latency at several loads (disk_load): the
//     latencies of 1, 2, 4, ... and as many concurrent writers as the run
//     has members, as quantiles;
//   - the synced-commit latency by load as the real run's stores saw it
//     (RunDiskLoad, for the disk model "run"): each commit's duration by
//     how many were in flight when it began;
//   - the time the real run's goroutines waited for a core once runnable
//     (HandoffLatency, the runtime's /sched/latencies), which a message
//     meets at each of its TransitHandoffs between two members' loops;
//   - each anti-entropy frame's time in transit in the real run, from its
//     sender's loop handing it off to its receiver's inbox (Transit, for
//     the measured link: sending goroutine, encoding, QUIC on both ends,
//     reading, decoding, and every wait for a core on the way), and the
//     same by how many frames were in transit at once (TransitLoad);
//   - the CPU a real member spends per message handled (process_cpu):
//     process CPU time over messages handled during the real run (QUIC,
//     TLS, decoding, applying, badger, memberlist: everything but the
//     wait for the disk), shared by the host's cores (host_cores).
type Calibration struct {
	SyncedWriteSeconds float64 `json:"synced_write_median_seconds"`
	SyncedWriteSigma   float64 `json:"synced_write_log_sigma"`
	DiskChannels       int     `json:"disk_channels"`
	// JournalWriters is how many concurrent writers measured the journal;
	// JournalPerWriteSeconds is what each write adds to a group commit.
	JournalWriters         int     `json:"journal_probe_writers"`
	JournalPerWriteSeconds float64 `json:"journal_per_write_seconds"`
	// DiskLoad is the synced-write latency by concurrent writers, each
	// level's quantiles the mean over DiskLoadPasses measurements.
	DiskLoad           []sim.DiskLoadLevel `json:"disk_load"`
	DiskLoadPasses     int                 `json:"disk_load_passes"`
	RunDiskLoad        []sim.DiskLoadLevel `json:"run_disk_load"`
	RunDiskLoadCommits []int               `json:"run_disk_load_commits"`
	// HandoffLatency is the real run's goroutine scheduling latency
	// (quantiles): each of a message's TransitHandoffs waits this long.
	HandoffLatency []time.Duration `json:"handoff_latency_ns"`
	// Transit is the real run's frames' time in transit (quantiles),
	// measured on TransitFrames frames.
	Transit       []time.Duration `json:"transit_ns"`
	TransitFrames int             `json:"transit_frames"`
	// TransitLoad is the frames' time in transit by frames in transit
	// (levels as RunDiskLoad's), TransitLoadFrames the frames per level.
	TransitLoad       []sim.DiskLoadLevel `json:"transit_load"`
	TransitLoadFrames []int               `json:"transit_load_frames"`
	// MembershipWindow is when the real run's writes ran, in seconds
	// since its first member started: the simulated side's membership
	// traffic is read over the same span of its members' lives.
	MembershipWindow     [2]float64 `json:"membership_window_seconds"`
	CPUPerMessageSeconds float64    `json:"cpu_per_message_seconds"`
	Cores                int        `json:"cores"`
	Samples              int        `json:"samples"`
}

// DiskProbeWriters is how many concurrent writers measure the disk's
// parallelism.
const DiskProbeWriters = 4

// DiskLoadQuantiles is how many evenly spaced quantiles describe the
// latency at one load (every 1 %).
const DiskLoadQuantiles = 101

// Calibrate times n synced writes of a validation-sized object to a fresh
// store in dir (after n/10 to warm up), then as many by each of 2, 4
// (DiskProbeWriters), 8, ... and journalWriters (the run's member count)
// concurrent stores. CPUPerMessageSeconds is left for the real run to
// measure.
func Calibrate(ctx context.Context, dir string, n, journalWriters int) (Calibration, error) {
	if n < 10 {
		return Calibration{}, fmt.Errorf("calibration: %d samples, want at least 10", n)
	}
	if journalWriters < 2 || journalWriters > MaxMembers {
		return Calibration{}, fmt.Errorf("calibration: %d journal probe writers, want 2 to %d", journalWriters, MaxMembers)
	}
	ds, oneWall, err := timeWrites(ctx, filepath.Join(dir, "calibration-0"), n)
	if err != nil {
		return Calibration{}, err
	}
	one := float64(n) / oneWall
	slices.Sort(ds)
	var mean, sq float64
	for _, d := range ds {
		mean += math.Log(d)
	}
	mean /= float64(len(ds))
	for _, d := range ds {
		sq += (math.Log(d) - mean) * (math.Log(d) - mean)
	}
	cal := Calibration{
		SyncedWriteSeconds: ds[len(ds)/2],
		// The scenario accepts sigma in [0, 3].
		SyncedWriteSigma: min(3, math.Sqrt(sq/float64(len(ds)-1))),
		Cores:            runtime.NumCPU(),
		Samples:          len(ds),
	}

	cal.DiskLoad, cal.DiskLoadPasses = append(cal.DiskLoad, loadLevel(1, ds)), 1
	throughput := map[int]float64{1: one}
	for k := 2; ; k *= 2 {
		k = min(k, journalWriters)
		lat, tput, err := concurrentWrites(ctx, filepath.Join(dir, "load-"+strconv.Itoa(k)), k, n)
		if err != nil {
			return Calibration{}, err
		}
		cal.DiskLoad = append(cal.DiskLoad, loadLevel(k, lat))
		throughput[k] = tput
		if k == journalWriters {
			break
		}
	}
	many, ok := throughput[DiskProbeWriters]
	if !ok {
		_, many, err = concurrentWrites(ctx, filepath.Join(dir, "channels"), DiskProbeWriters, n)
		if err != nil {
			return Calibration{}, err
		}
	}
	cal.DiskChannels = max(1, min(DiskProbeWriters, int(math.Round(many/one))))

	// A journal whose commit of k writes takes base + k*per, kept busy by
	// k closed-loop writers, completes k writes per base + k*per; a lone
	// writer's write takes base + per. Two throughputs give per.
	k := journalWriters
	per := (float64(k)/throughput[k] - 1/one) / float64(k-1)
	cal.JournalWriters = k
	cal.JournalPerWriteSeconds = min(cal.SyncedWriteSeconds, max(1e-6, per))
	return cal, nil
}

// RemeasureDiskLoad measures the disk by load again at the same levels,
// n writes per writer in stores under dir, and makes each level's
// quantiles the mean of all its measurements so far. The disk's latency
// under load drifts from minute to minute (BENCHMARKS.md, validation):
// Compare measures it before and after the real run, which lies between.
func (c *Calibration) RemeasureDiskLoad(ctx context.Context, dir string, n int) error {
	passes := float64(max(1, c.DiskLoadPasses))
	for _, l := range c.DiskLoad {
		lat, _, err := concurrentWrites(ctx, filepath.Join(dir, "load-again-"+strconv.Itoa(l.Writers)), l.Writers, n)
		if err != nil {
			return err
		}
		again := loadLevel(l.Writers, lat)
		if len(l.Quantiles) != len(again.Quantiles) {
			return fmt.Errorf("calibration: %d writers: %d quantiles, want %d", l.Writers, len(l.Quantiles), len(again.Quantiles))
		}
		for j := range l.Quantiles {
			l.Quantiles[j] = time.Duration((float64(l.Quantiles[j])*passes + float64(again.Quantiles[j])) / (passes + 1))
		}
	}
	c.DiskLoadPasses = int(passes) + 1
	return nil
}

// concurrentWrites runs writers concurrent stores under dir, n synced
// writes each, and returns every write's latency (sorted) and the synced
// writes per second of all of them. Each writer's clock starts at its
// first measured write, so opening a store and warming it up do not count
// against the disk.
func concurrentWrites(ctx context.Context, dir string, writers, n int) ([]float64, float64, error) {
	var wg sync.WaitGroup
	errs := make([]error, writers)
	walls := make([]float64, writers)
	lats := make([][]float64, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[w], walls[w], errs[w] = timeWrites(ctx, filepath.Join(dir, strconv.Itoa(w)), n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return all, float64(writers*n) / slices.Max(walls), nil
}

// loadLevel summarises sorted latencies (seconds) measured with writers
// concurrent writers as DiskLoadQuantiles evenly spaced quantiles.
func loadLevel(writers int, sorted []float64) sim.DiskLoadLevel {
	l := sim.DiskLoadLevel{Writers: writers, Quantiles: make([]time.Duration, DiskLoadQuantiles)}
	for i := range l.Quantiles {
		q := sim.Quantile(sorted, float64(i)/float64(DiskLoadQuantiles-1))
		l.Quantiles[i] = max(time.Microsecond, time.Duration(q*1e9))
	}
	return l
}

// timeWrites opens a store in dir and times n synced writes after a
// tenth as many to warm badger up. It returns each write's duration and
// the wall time of all of them together.
func timeWrites(ctx context.Context, dir string, n int) ([]float64, float64, error) {
	st, err := crdt.OpenStore(crdt.DefaultStoreConfig(dir, "calibration"))
	if err != nil {
		return nil, 0, fmt.Errorf("calibration store: %w", err)
	}
	defer st.Close()
	put := func(i int) (time.Duration, error) {
		t0 := time.Now()
		_, err := st.Put(ctx, validationKey, probeValue(i), crdt.PutOptions{})
		if err != nil {
			return 0, fmt.Errorf("calibration write: %w", err)
		}
		return time.Since(t0), nil
	}
	for i := range n / 10 {
		if _, err := put(i); err != nil {
			return nil, 0, err
		}
	}
	ds := make([]float64, 0, n)
	start := time.Now()
	for i := range n {
		d, err := put(n/10 + i)
		if err != nil {
			return nil, 0, err
		}
		ds = append(ds, d.Seconds())
	}
	return ds, time.Since(start).Seconds(), nil
}
