package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/sim"
)

func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the discrete-event simulator (real CRDT, anti-entropy and scheduler cores)",
		Long: `Simulate a federation of many members on a virtual clock. Every member runs
Lattice's real CRDT replica, anti-entropy session core and federation
scheduler; the network, memberlist (SWIM) and the member clusters are modelled.
The same scenario and seed give the same results.`,
	}
	cmd.AddCommand(newSimRunCmd(), newSimValidateCmd())
	return cmd
}

func newSimRunCmd() *cobra.Command {
	var (
		members  int
		seed     uint64
		duration time.Duration
		out      string
		cpuprof  string
		memprof  string
		decoders int
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO --out DIR",
		Short: "Run a scenario and write summary.json, CSVs and SVG plots to DIR",
		Long: `Run a scenario, by built-in name (` + joinNames(sim.BuiltinScenarios()) + `)
or as a path to a YAML file, and write to DIR:

  summary.json         members, events, convergence p50/p99/max, bandwidth,
                       replicas_below_desired_seconds, host timing and memory
  timeseries.csv       per sample: bandwidth, live members, pending writes,
                       ready/desired replicas, events
  convergence.csv      every converged write's convergence time (CDF)
  convergence_cdf.svg, bandwidth.svg, ready_replicas.svg

--members, --seed and --duration override the scenario's values.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf(cmd, "--out DIR is required")
			}
			if cmd.Flags().Changed("members") && (members < 1 || members > sim.MaxMembers) {
				return usageErrorf(cmd, "--members %d: want 1 to %d", members, sim.MaxMembers)
			}
			if cmd.Flags().Changed("duration") && (duration <= 0 || duration > sim.MaxDuration) {
				return usageErrorf(cmd, "--duration %s: want more than 0 and at most %s", duration, sim.MaxDuration)
			}
			if decoders < -1 || decoders > maxDecodeWorkers {
				return usageErrorf(cmd, "--decode-workers %d: want -1 (none), 0 (default) or up to %d", decoders, maxDecodeWorkers)
			}
			sc, err := sim.LoadScenario(args[0])
			if err != nil {
				return err
			}
			o := sim.Overrides{Members: members, Duration: duration}
			if cmd.Flags().Changed("seed") {
				o.Seed = &seed
			}
			if err := sc.Apply(o); err != nil {
				return fmt.Errorf("scenario %s: %w", args[0], err)
			}
			// The simulation allocates many short-lived messages; a lazier GC
			// trades memory (well within budget) for throughput. A GOGC in
			// the environment wins.
			if os.Getenv("GOGC") == "" {
				defer debug.SetGCPercent(debug.SetGCPercent(400))
			}
			if cpuprof != "" {
				pf, err := os.Create(cpuprof)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			opt := sim.RunOptions{Wall: time.Now, DecodeWorkers: decoders}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && isTerminal(f) {
				opt.Progress = f
			}
			res, err := sim.Run(cmd.Context(), sc, opt)
			if err != nil {
				return err
			}
			if memprof != "" {
				if err := writeHeapProfile(memprof); err != nil {
					return err
				}
			}
			if err := sim.WriteOutputs(out, res.Summary, res.Series, res.Latencies); err != nil {
				return err
			}
			s := res.Summary
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d members, %.0fs virtual in %.1fs wall, %d events (%.0f/s); convergence p50 %.3fs p99 %.3fs max %.3fs; %.0f B/s per member; %s/summary.json\n",
				s.Scenario, s.Members, s.VirtualSeconds, s.WallSeconds, s.Events, s.EventsPerSecond,
				s.ConvergenceP50Seconds, s.ConvergenceP99Seconds, s.ConvergenceMaxSeconds, s.BytesPerMemberPerSecond, out)
			if err == nil && s.Deletes > 0 {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "tombstones: %d deletes, %d collected (p50 %.1fs p99 %.1fs max %.1fs after the delete), %d superseded by a later write, %d still held\n",
					s.Deletes, s.TombstonesCollected, s.TombstoneCollectionP50Seconds, s.TombstoneCollectionP99Seconds, s.TombstoneCollectionMaxSeconds,
					s.TombstonesSuperseded, s.TombstonesPending)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&members, "members", 0, "number of members (default: the scenario's)")
	f.Uint64Var(&seed, "seed", 0, "random seed (default: the scenario's)")
	f.DurationVar(&duration, "duration", 0, "virtual time to simulate, e.g. 10m (default: the scenario's)")
	f.StringVar(&out, "out", "", "output directory (required)")
	f.StringVar(&cpuprof, "cpuprofile", "", "write a Go CPU profile of the run to this file (for go tool pprof)")
	f.StringVar(&memprof, "memprofile", "", "write a Go heap profile at the end of the run to this file")
	f.IntVar(&decoders, "decode-workers", 0, "goroutines encoding and decoding messages ahead of delivery: 0 is one fewer than the host's cores, -1 none (outputs are the same either way)")
	return cmd
}

// maxDecodeWorkers bounds --decode-workers.
const maxDecodeWorkers = 64

// writeHeapProfile writes the heap profile of what the run allocated;
// the world is dropped by then, so it shows allocation sites by volume.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	return f.Close()
}

func joinNames(names []string) string { return strings.Join(names, ", ") }

// isTerminal reports whether f is a character device (a terminal): the
// progress line is for people watching, not for logs.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
