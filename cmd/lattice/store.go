package main

import (
	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/admin"
)

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Inspect a member's replicated store",
		// Runnable only so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newStoreDumpCmd())
	return cmd
}

func newStoreDumpCmd() *cobra.Command {
	var dir string
	var canonical bool
	cmd := &cobra.Command{
		Use:   "dump --data-dir DIR [--canonical]",
		Short: "Print every object of a member's store as JSON lines",
		Long: `Print every live object of a member's store, one JSON line per object,
sorted by key:

  {"key":"GROUP/KIND/NAMESPACE/NAME","resourceVersion":N,"generation":N,"value":{...}}

The key's group is empty for the core group and its namespace is empty for
cluster-scoped objects. resourceVersion is the member's local sequence number
of the object's last change; --canonical leaves it out, so members that have
converged print byte-identical output.

Works on a running member (through its admin socket DIR/admin.sock) and on a
stopped one (opening its store directly).`,
		Example: `  lattice store dump --data-dir .lattice/member-1
  lattice store dump --data-dir .lattice/member-1 --canonical | sha256sum`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			return withMember(cmd, dir,
				func(c *admin.Client) error { return c.Dump(cmd.Context(), out, canonical) },
				func(st *crdt.Store) error { return admin.Dump(out, st, canonical) },
			)
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the member (required)")
	cmd.Flags().BoolVar(&canonical, "canonical", false, "omit resourceVersion, so converged members print identical output")
	return cmd
}
