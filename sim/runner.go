package sim

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"
)

// RunOptions are the host-side knobs of a run. The simulation itself never
// reads the wall clock; the runner measures wall time only through Wall,
// for the summary's host fields and the progress line.
type RunOptions struct {
	// Wall returns the wall-clock time (nil: host fields stay zero and no
	// progress is shown).
	Wall func() time.Time
	// Progress, if set, receives a progress line (carriage-return
	// refreshed) about every ProgressEvery of wall time.
	Progress      io.Writer
	ProgressEvery time.Duration
	// DecodeWorkers is how many goroutines decode messages ahead of their
	// delivery (see World.SetDecodeWorkers): 0 is the default, one fewer
	// than GOMAXPROCS; negative is none. Outputs do not depend on it.
	DecodeWorkers int
}

// Result is a finished run.
type Result struct {
	Summary   Summary
	Series    []Sample
	Latencies []float64
	// HandlingPerMessage is the members' mean loop time per handled
	// message, from its computation's start to its delivery (0 without a
	// processing model): compare gossip's message-handling histogram.
	HandlingPerMessage time.Duration
}

// Run simulates the scenario to its end, or until ctx is cancelled (checked
// after every virtual second).
func Run(ctx context.Context, sc *Scenario, opt RunOptions) (Result, error) {
	var start, lastShown time.Time
	if opt.Wall != nil {
		start = opt.Wall()
		lastShown = start
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = time.Second
	}
	w, err := NewWorld(sc)
	if err != nil {
		return Result{}, err
	}
	if opt.DecodeWorkers != 0 {
		w.SetDecodeWorkers(opt.DecodeWorkers)
	}
	var peak uint64
	var ms runtime.MemStats
	// Step one virtual chunk at a time to sample the heap and report.
	chunk := min(time.Second, sc.Duration)
	for t := chunk; ; t += chunk {
		w.RunUntil(min(t, sc.Duration))
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		if opt.Wall != nil && opt.Progress != nil {
			if now := opt.Wall(); now.Sub(lastShown) >= opt.ProgressEvery || w.Done() {
				lastShown = now
				el := now.Sub(start).Seconds()
				fmt.Fprintf(opt.Progress, "\rsim %s: %s/%s virtual, %d events, %.0f events/s, %d live members, heap %d MiB ",
					sc.Name, w.Now().Truncate(time.Second), sc.Duration, w.Events(), float64(w.Events())/max(el, 1e-9), w.aliveCount, ms.HeapAlloc>>20)
				if w.Done() {
					fmt.Fprintln(opt.Progress)
				}
			}
		}
		if w.Done() {
			break
		}
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("simulation stopped at %s of virtual time: %w", w.Now(), err)
		}
	}
	sum := w.Summary()
	sum.PeakHeapBytes = peak
	if opt.Wall != nil {
		sum.WallSeconds = opt.Wall().Sub(start).Seconds()
		if sum.WallSeconds > 0 {
			sum.EventsPerSecond = float64(sum.Events) / sum.WallSeconds
		}
	}
	res := Result{Summary: sum, Series: w.Series(), Latencies: w.Latencies()}
	if w.met.handled > 0 {
		res.HandlingPerMessage = time.Duration(w.met.handling / w.met.handled)
	}
	return res, nil
}
