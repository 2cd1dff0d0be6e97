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

func newFederationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federation",
		Short: "Found a federation",
		Long: `Found a federation and inspect the federation a member belongs to.

A federation is a name and the DID of its founding member. Members are
admitted by membership credentials ('lattice invite') that chain back to the
founder.`,
		// Runnable only so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newFederationInitCmd())
	return cmd
}

func newFederationInitCmd() *cobra.Command {
	var dir, name string
	cmd := &cobra.Command{
		Use:   "init --name NAME --data-dir DIR",
		Short: "Found a federation, with this member as founder",
		Long: `Found federation NAME with the member of DIR as its founder.

The member's identity is created in DIR first if there is none (as with
'lattice did create'). The federation is recorded in DIR/federation.json
(mode 0600): its name, the founder's DID and the time it was founded.

The founder's DID registration (its DID document) is recorded as the first
entry of its ledger feed in DIR's store, created if DIR has none (through
the member if one runs on DIR).

NAME is a DNS label: 1 to 63 lower-case letters, digits and '-', starting
and ending with a letter or digit. Running init again with the same name
changes nothing; a data directory belongs to one federation only.`,
		Example: `  lattice federation init --name acme --data-dir .lattice/member-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			if err := identity.ValidateName(name); err != nil {
				return usageErrorf(cmd, "invalid --name: %v", err)
			}
			f, err := member.ReadFederation(dir)
			switch {
			case err == nil:
				return sameFederation(cmd, dir, name, f)
			case !errors.Is(err, fs.ErrNotExist):
				return err
			}
			id, err := loadOrCreateIdentity(dir)
			if err != nil {
				return err
			}
			// The founding is recorded in the member's ledger: open (or
			// create) its store before writing anything.
			feed, err := openFeed(cmd, dir, id)
			if err != nil {
				return err
			}
			defer feed.close(&err)
			doc, err := json.Marshal(id.Document())
			if err != nil {
				return err
			}
			f = &member.Federation{Name: name, Founder: id.DID(), Created: time.Now().UTC().Truncate(time.Second)}
			switch err := member.WriteFederation(dir, f); {
			case errors.Is(err, fs.ErrExist):
				// Founded concurrently.
				f, err := member.ReadFederation(dir)
				if err != nil {
					return err
				}
				return sameFederation(cmd, dir, name, f)
			case err != nil:
				return err
			}
			if err := feed.record(cmd.Context(), ledger.TypeDIDRegistration, doc, time.Now()); err != nil {
				return fmt.Errorf("record the founder's DID registration in the ledger: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "federation %s founded by %s\n", f.Name, f.Founder)
			return err
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the founding member (required)")
	cmd.Flags().StringVar(&name, "name", "", "name of the federation (required)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// sameFederation handles 'federation init --name name' on data directory dir
// that already belongs to federation f: it succeeds, changing nothing, iff
// that is the same federation founded by the member of dir.
func sameFederation(cmd *cobra.Command, dir, name string, f *member.Federation) error {
	if f.Name != name {
		return fmt.Errorf("%s already belongs to federation %s (%s); a data directory belongs to one federation only, use another one to found %s",
			dir, f.Name, member.FederationPath(dir), name)
	}
	id, err := loadIdentity(dir)
	if err != nil {
		return err
	}
	if id.DID() != f.Founder {
		return fmt.Errorf("%s already belongs to federation %s, founded by %s, not by this member (%s)",
			dir, f.Name, f.Founder, id.DID())
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "federation %s founded by %s\n", f.Name, f.Founder)
	return err
}
