package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/member"
)

func newUpCmd() *cobra.Command {
	var members int
	var dir string
	cmd := &cobra.Command{
		Use:   "up [--members N] [--dir DIR]",
		Short: "Start a local federation on this machine",
		Long: `Start a local federation of N members on this machine and run it until
interrupted (Ctrl-C or SIGTERM), then stop every member cleanly.

Member i keeps its data in DIR/member-i, with replica ID member-i; running
'lattice up' again on the same DIR resumes from what is on disk. While it
runs, 'lattice store dump' and 'lattice apply' with --data-dir DIR/member-i
talk to the member through its admin socket.

Only one member is supported for now: multi-member federations arrive with
the gossip layer.`,
		Example: `  lattice up
  lattice up --dir /tmp/fed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case members < 1:
				return usageErrorf(cmd, "--members must be at least 1, got %d", members)
			case members > 1:
				return usageErrorf(cmd, "--members %d: only one member is supported for now; multi-member federations arrive with the gossip layer", members)
			case dir == "":
				return usageErrorf(cmd, "--dir must not be empty")
			}
			return runMember(cmd, filepath.Join(dir, "member-1"), "member-1")
		},
	}
	cmd.Flags().IntVar(&members, "members", 1, "number of members (only 1 for now)")
	cmd.Flags().StringVar(&dir, "dir", "./.lattice", "directory for the members' data")
	return cmd
}

// runMember runs one member on data directory dir until the command's
// context is cancelled (SIGINT, SIGTERM).
func runMember(cmd *cobra.Command, dir string, id crdt.ReplicaID) error {
	return runMemberConfig(cmd, member.Config{Dir: dir, ID: id}, "info")
}

// runMemberConfig runs the member cfg describes until the command's context
// is cancelled (SIGINT, SIGTERM).
func runMemberConfig(cmd *cobra.Command, cfg member.Config, level string) error {
	lvl, err := parseLogLevel(level)
	if err != nil {
		return err
	}
	log := newLogger(cmd.ErrOrStderr(), lvl)
	cfg.Logger = log
	cfg.Ready = func(id crdt.ReplicaID) {
		q := shellQuote(cfg.Dir)
		log.Info(fmt.Sprintf("%s ready: data in %s; try: lattice store dump --data-dir %s", id, cfg.Dir, q))
	}
	return member.Run(cmd.Context(), cfg)
}
