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
//   - the CPU a real member spends per message handled (process_cpu):
//     process CPU time over messages handled during the real run (QUIC,
//     TLS, decoding, applying, badger, memberlist: everything but the
//     wait for the disk), shared by the host's cores (host_cores).
type Calibration struct {
	SyncedWriteSeconds   float64 `json:"synced_write_median_seconds"`
	SyncedWriteSigma     float64 `json:"synced_write_log_sigma"`
	DiskChannels         int     `json:"disk_channels"`
	CPUPerMessageSeconds float64 `json:"cpu_per_message_seconds"`
	Cores                int     `json:"cores"`
	Samples              int     `json:"samples"`
}

// DiskProbeWriters is how many concurrent writers measure the disk's
// parallelism.
const DiskProbeWriters = 4

// Calibrate times n synced writes of a validation-sized object to a fresh
// store in dir, then n writes by each of DiskProbeWriters concurrent
// stores. CPUPerMessageSeconds is left for the real run to measure.
func Calibrate(ctx context.Context, dir string, n int) (Calibration, error) {
	if n < 10 {
		return Calibration{}, fmt.Errorf("calibration: %d samples, want at least 10", n)
	}
	ds, err := timeWrites(ctx, filepath.Join(dir, "calibration-0"), n)
	if err != nil {
		return Calibration{}, err
	}
	one := float64(len(ds)) / sum(ds)
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

	var wg sync.WaitGroup
	errs := make([]error, DiskProbeWriters)
	start := time.Now()
	for w := range DiskProbeWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[w] = timeWrites(ctx, filepath.Join(dir, "calibration-"+strconv.Itoa(w+1)), n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Calibration{}, err
	}
	many := float64(DiskProbeWriters*(n-n/10)) / time.Since(start).Seconds()
	cal.DiskChannels = max(1, min(DiskProbeWriters, int(math.Round(many/one))))
	return cal, nil
}

// timeWrites opens a store in dir and times n synced writes after a
// tenth as many to warm badger up.
func timeWrites(ctx context.Context, dir string, n int) ([]float64, error) {
	st, err := crdt.OpenStore(crdt.DefaultStoreConfig(dir, "calibration"))
	if err != nil {
		return nil, fmt.Errorf("calibration store: %w", err)
	}
	defer st.Close()
	ds := make([]float64, 0, n)
	for i := range n {
		val := `{"kind":"Probe","metadata":{"name":"w"},"spec":{"i":` + strconv.Itoa(i) + `}}`
		t0 := time.Now()
		if _, err := st.Put(ctx, validationKey, []byte(val), crdt.PutOptions{}); err != nil {
			return nil, fmt.Errorf("calibration write: %w", err)
		}
		if i >= n/10 {
			ds = append(ds, time.Since(t0).Seconds())
		}
	}
	return ds, nil
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
