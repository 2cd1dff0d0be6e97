package main

import "github.com/spf13/cobra"

// newRootCmd builds the lattice command tree. Each subcommand lives in its own
// file as newXCmd() *cobra.Command and is registered here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "lattice",
		Short: "Decentralized federation control plane for Kubernetes",
		Long: `Lattice federates Kubernetes clusters without a hub.

Every member cluster runs one Lattice controller. The controllers share one
replicated database built from CRDTs and gossiped peer to peer over QUIC, so
federated workloads, resource offers, contracts, DID identities and membership
converge by merging state: there is no central etcd and no leader across
clusters. Any member's API answers kubectl for the whole federation.

Run 'lattice up' to start a local federation on this machine; no cluster is
needed.`,
		// Errors are printed once, as one line, by main; a usage dump after a
		// runtime error only hides the message.
		SilenceErrors: true,
		SilenceUsage:  true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}

	root.AddCommand(
		newAgentCmd(),
		newApplyCmd(),
		newDIDCmd(),
		newEmulateCmd(),
		newFederationCmd(),
		newInviteCmd(),
		newLedgerCmd(),
		newRevokeCmd(),
		newSimCmd(),
		newStatusCmd(),
		newStoreCmd(),
		newUpCmd(),
		newVCCmd(),
		newVersionCmd(),
	)

	markRuntimeErrors(root)
	return root
}
