package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/member"
	"github.com/lattice-federation/lattice/ledger"
)

func newRevokeCmd() *cobra.Command {
	var dir, credID string
	cmd := &cobra.Command{
		Use:   "revoke --data-dir DIR --credential ID",
		Short: "Revoke a membership credential",
		Long: `Revoke membership credential ID (as printed by 'lattice invite') by recording
a revocation entry, signed by the member of DIR, in its ledger feed. The
entry replicates to every member; it counts where DIR's member issued the
credential or founded the federation, and from then on members refuse the
credential's holder at the handshake and close its connections (and those of
members it admitted, unless they hold another valid chain).

Works on a running member (through its admin socket) and a stopped one.`,
		Example: `  lattice revoke --data-dir .lattice/member-1 --credential urn:uuid:79302032-ab4f-4030-90d2-4eeee15b80b8`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			if !identity.ValidCredentialID(credID) {
				return usageErrorf(cmd, "invalid --credential %q: want a credential ID such as urn:uuid:79302032-ab4f-4030-90d2-4eeee15b80b8", credID)
			}
			id, err := loadIdentity(dir)
			if err != nil {
				return err
			}
			if _, err := member.ReadFederation(dir); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s belongs to no federation (no %s); only a member can revoke", dir, member.FederationPath(dir))
			} else if err != nil {
				return err
			}
			payload, err := json.Marshal(member.RevocationPayload{Credential: credID})
			if err != nil {
				return err
			}
			feed, err := openFeed(cmd, dir, id)
			if err != nil {
				return err
			}
			defer feed.close(&err)
			if err := feed.record(cmd.Context(), ledger.TypeRevocation, payload, time.Now()); err != nil {
				return fmt.Errorf("record revocation in the ledger: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", credID)
			return err
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the revoking member (required)")
	cmd.Flags().StringVar(&credID, "credential", "", "ID of the membership credential to revoke (required)")
	_ = cmd.MarkFlagRequired("credential")
	return cmd
}
