package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/internal/netem"
)

func newEmulateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Emulate networks for running many members on one machine",
		Long: `Tools for emulating a network of members on one machine with network
namespaces, where the kernel may lack the netem qdisc.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newEmulateLinkCmd())
	return cmd
}

func newEmulateLinkCmd() *cobra.Command {
	var (
		a, b   string
		cfg    netem.LinkConfig
		report time.Duration
	)
	cmd := &cobra.Command{
		Use:   "link --a IFACE --b IFACE [--delay D] [--jitter D] [--loss P]",
		Short: "Forward Ethernet frames between two interfaces with delay and loss",
		Long: `Forward every Ethernet frame between interfaces A and B (raw sockets; needs
CAP_NET_RAW) with --delay plus a random --jitter added and a --loss
fraction dropped, in each direction, until interrupted: a userspace netem
for kernels without it. Put A and B on two bridges (through veth pairs) to
join two groups of namespaces by an impaired link.

Frames larger than 1518 bytes (GSO) cannot be forwarded: disable GSO in
the programs on either side (QUIC_GO_DISABLE_GSO=true for Lattice).`,
		Example: `  lattice emulate link --a relay-a --b relay-b --delay 100ms --loss 0.05`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a == "" || b == "" {
				return usageErrorf(cmd, "--a and --b must name interfaces")
			}
			if err := cfg.Validate(); err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			r, err := netem.NewRelay(a, b, cfg)
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), slog.LevelInfo)
			log.Info(fmt.Sprintf("relaying %s <-> %s: delay %s, jitter %s, loss %.2f%%", a, b, cfg.Delay, cfg.Jitter, cfg.Loss*100))
			if report > 0 {
				go func() {
					t := time.NewTicker(report)
					defer t.Stop()
					for {
						select {
						case <-cmd.Context().Done():
							return
						case <-t.C:
							s := r.Stats()
							log.Info("relay", "forwarded", s.Forwarded, "lost", s.Lost, "overflow", s.Overflow, "oversize", s.Oversize, "write_errors", s.WriteErrors)
						}
					}
				}()
			}
			err = r.Run(cmd.Context())
			s := r.Stats()
			log.Info("relay stopped", "forwarded", s.Forwarded, "lost", s.Lost, "overflow", s.Overflow, "oversize", s.Oversize, "write_errors", s.WriteErrors)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&a, "a", "", "first interface (required)")
	fl.StringVar(&b, "b", "", "second interface (required)")
	fl.DurationVar(&cfg.Delay, "delay", 0, "delay added to every frame")
	fl.DurationVar(&cfg.Jitter, "jitter", 0, "random extra delay, up to this much")
	fl.Float64Var(&cfg.Loss, "loss", 0, "fraction of frames dropped, in [0, 1)")
	fl.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock)")
	fl.DurationVar(&report, "report", 0, "log counters this often (0: only at the end)")
	return cmd
}
