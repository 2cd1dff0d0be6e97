package main

import (
	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
)

func newAgentCmd() *cobra.Command {
	var dir, id string
	cmd := &cobra.Command{
		Use:   "agent --data-dir DIR [--id ID]",
		Short: "Run one member",
		Long: `Run one Lattice member on data directory DIR until interrupted (Ctrl-C or
SIGTERM), then stop it cleanly.

DIR is created if needed (mode 0700) and holds:
  DIR/id          the member's replica ID
  DIR/store/      its replicated store
  DIR/admin.sock  the local admin socket, while it runs

A new DIR takes --id as the member's ID, or a generated member-XXXXXXXX; an
existing DIR keeps its ID (--id, if given, must match it).

The member does not gossip yet: it serves its store to 'lattice store dump'
and 'lattice apply' through the admin socket.`,
		Example: `  lattice agent --data-dir /var/lib/lattice --id edge-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			if id != "" {
				if err := crdt.ValidateReplicaID(crdt.ReplicaID(id)); err != nil {
					return usageErrorf(cmd, "--id: %v", err)
				}
			}
			return runMember(cmd, dir, crdt.ReplicaID(id))
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the member (required)")
	cmd.Flags().StringVar(&id, "id", "", "member ID for a new data directory (default: generated)")
	return cmd
}
