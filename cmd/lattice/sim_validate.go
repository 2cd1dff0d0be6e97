package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/sim/validate"
)

func newSimValidateCmd() *cobra.Command {
	var (
		members []int
		writes  int
		seed    uint64
		out     string
	)
	cmd := &cobra.Command{
		Use:   "validate --out DIR",
		Short: "Run the validation workload on real in-process members and in the simulator, side by side",
		Long: `Run the same workload twice at each member count: on real members in this
process (QUIC on loopback, badger stores, memberlist; sequential writes to one
object at a random member, 100 ms after the previous write reached every
member) and in the simulator (the built-in "validation" scenario). Prints
convergence p50/p99 from both sides and writes DIR/validation.json.

Run it on a quiet machine: the real side shares this host's cores.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErrorf(cmd, "--out DIR is required")
			}
			if len(members) == 0 {
				return usageErrorf(cmd, "--members: give at least one member count")
			}
			for _, n := range members {
				if n < 2 || n > validate.MaxMembers {
					return usageErrorf(cmd, "--members %d: want 2 to %d", n, validate.MaxMembers)
				}
			}
			if writes < 1 || writes > validate.MaxWrites {
				return usageErrorf(cmd, "--writes %d: want 1 to %d", writes, validate.MaxWrites)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			rep := validate.Report{Scenario: validate.ScenarioName, Tolerance: validate.Tolerance}
			for _, n := range members {
				dir, err := os.MkdirTemp("", "lattice-validate-")
				if err != nil {
					return err
				}
				cfg := validate.DefaultRealConfig(n)
				cfg.Writes, cfg.Seed, cfg.Dir = writes, seed, dir
				fmt.Fprintf(cmd.ErrOrStderr(), "%d members: real run (%d writes), then simulation...\n", n, writes)
				row, err := validate.Compare(cmd.Context(), cfg)
				os.RemoveAll(dir)
				if err != nil {
					return fmt.Errorf("%d members: %w", n, err)
				}
				rep.Rows = append(rep.Rows, row)
			}
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "validation.json"), append(b, '\n'), 0o644); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MEMBERS\tDISK MODEL\tCORES\tWRITES\tHAND-OFFS\tLINK\tREAL P50\tREAL P99\tSIM P50\tSIM P99\tP50 DIFF\tP99 DIFF\tWITHIN 25%\tMSGS/WRITE REAL\tSIM\tMS/MSG REAL\tSIM")
			for _, r := range rep.Rows {
				for _, s := range r.Sims {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f ms\t%+.0f%%\t%+.0f%%\t%v\t%.1f\t%.1f\t%.2f\t%.2f\n", r.Members, diskModelLabel(s.Disk, r.Calibration), s.Scheduler, s.Writes, s.Handoffs, linkModelLabel(s.Link, r.Calibration),
						r.Real.P50Seconds*1e3, r.Real.P99Seconds*1e3, s.Sim.P50Seconds*1e3, s.Sim.P99Seconds*1e3, s.P50Diff*100, s.P99Diff*100, s.Within, r.Real.MessagesPerWrite, s.Sim.MessagesPerWrite,
						r.Real.HandlingPerMessage*1e3, s.Sim.HandlingPerMessage*1e3)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, r := range rep.Rows {
				c := r.RealCommits
				fmt.Fprintf(cmd.OutOrStdout(), "%d members, real store commits: %.0f%% of %d batches synced, p50 %.2f ms, p99 %.2f ms, mean %.2f ms (a lone writer: %.2f ms)\n",
					r.Members, c.SyncedFraction*100, c.Batches, c.SyncedP50Seconds*1e3, c.SyncedP99Seconds*1e3, c.SyncedMeanSeconds*1e3, r.Calibration.SyncedWriteSeconds*1e3)
				fmt.Fprintf(cmd.OutOrStdout(), "%d members, real loop per message: %.2f ms handling, %.2f ms CPU\n",
					r.Members, r.Real.HandlingPerMessage*1e3, r.Calibration.CPUPerMessageSeconds*1e3)
				if len(r.Sims) > 0 {
					aeLo, aeHi := r.Sims[0].Sim.AntiEntropyBytesPerMessage, r.Sims[0].Sim.AntiEntropyBytesPerMessage
					mLo, mHi := r.Sims[0].Sim.MembershipBytesPerMemberPerSecond, r.Sims[0].Sim.MembershipBytesPerMemberPerSecond
					for _, s := range r.Sims[1:] {
						aeLo, aeHi = min(aeLo, s.Sim.AntiEntropyBytesPerMessage), max(aeHi, s.Sim.AntiEntropyBytesPerMessage)
						mLo, mHi = min(mLo, s.Sim.MembershipBytesPerMemberPerSecond), max(mHi, s.Sim.MembershipBytesPerMemberPerSecond)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%d members, bandwidth: anti-entropy %.0f B per message real, %.0f–%.0f simulated; membership %.0f B/s per member real, %.0f–%.0f simulated\n",
						r.Members, r.Real.AntiEntropyBytesPerMessage, aeLo, aeHi, r.Real.MembershipBytesPerMemberPerSecond, mLo, mHi)
				}
				if r.RealStoresFlushed > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%d members: %d of %d real stores flushed a memtable during the writes, stalling the shared host (not simulated; see BENCHMARKS.md, validation)\n",
						r.Members, r.RealStoresFlushed, r.Members)
				}
				if c := r.Calibration; len(c.Transit) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%d members, real frames in transit (loop to inbox): p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d frames\n",
						r.Members, millis(c.Transit[len(c.Transit)/2]), millis(c.Transit[len(c.Transit)*99/100]), millis(c.Transit[len(c.Transit)-1]), c.TransitFrames)
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", filepath.Join(out, "validation.json"))
			return err
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&members, "members", []int{20, 30}, "member counts to compare (2 to 64 each)")
	f.IntVar(&writes, "writes", 100, "sequential writes measured on the real members")
	f.Uint64Var(&seed, "seed", 1, "random seed (writers on both sides)")
	f.StringVar(&out, "out", "", "output directory (required)")
	return cmd
}

// millis is d in milliseconds.
func millis(d time.Duration) float64 { return d.Seconds() * 1e3 }

// linkModelLabel names a link model, with its levels when by load.
func linkModelLabel(m validate.LinkModel, cal validate.Calibration) string {
	if m == validate.LinkLoad {
		return fmt.Sprintf("%s, %d levels", m, len(cal.TransitLoad))
	}
	return string(m)
}

// diskModelLabel names a disk model with its calibrated parameter.
func diskModelLabel(m validate.DiskModel, cal validate.Calibration) string {
	switch m {
	case validate.DiskChannels:
		return fmt.Sprintf("%d channels", cal.DiskChannels)
	case validate.DiskJournal:
		return fmt.Sprintf("journal +%.2f ms/write", cal.JournalPerWriteSeconds*1e3)
	case validate.DiskLoad:
		return fmt.Sprintf("by load, %d levels", len(cal.DiskLoad))
	case validate.DiskRun:
		return fmt.Sprintf("run's load, %d levels", len(cal.RunDiskLoad))
	}
	return string(m)
}
