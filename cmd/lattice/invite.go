package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/fsutil"
	"github.com/lattice-federation/lattice/internal/member"
	"github.com/lattice-federation/lattice/ledger"
)

func newInviteCmd() *cobra.Command {
	var (
		dir, did, out string
		roles         []string
		validFor      time.Duration
		force         bool
	)
	cmd := &cobra.Command{
		Use:   "invite --data-dir DIR --did DID --out FILE",
		Short: "Issue a membership credential admitting a DID to the federation",
		Long: `Issue a membership credential by which the member of DIR admits DID to its
federation (DIR/federation.json) with the given roles, valid from now for
--valid-for, and write it to FILE (mode 0600). Print its ID and subject.

The issuer must be the founder of the federation or hold a membership
credential of it in DIR/membership.json, valid now and issued to its own
DID. The credential is signed with the key in DIR/identity/key; it is not
secret, but whoever holds it can show that DID was admitted.

The credential is recorded as an entry of the issuer's ledger feed in DIR's
store (see 'lattice ledger show'), through the member if it runs.

FILE is never replaced unless --force is given.`,
		Example: `  lattice invite --data-dir .lattice/member-1 --did did:key:z6Mk... --out member-2.json
  lattice invite --data-dir .lattice/member-1 --did did:key:z6Mk... --out m.json --roles admin,ops --valid-for 720h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			if out == "" {
				return usageErrorf(cmd, "--out must not be empty")
			}
			if _, _, err := identity.Resolve(did); err != nil {
				return usageErrorf(cmd, "invalid --did: %v", err)
			}
			for _, r := range roles {
				if err := identity.ValidateName(r); err != nil {
					return usageErrorf(cmd, "invalid --roles: %v", err)
				}
			}
			if len(roles) > identity.MaxRoles {
				return usageErrorf(cmd, "invalid --roles: %d roles, max %d", len(roles), identity.MaxRoles)
			}
			if validFor < time.Second {
				return usageErrorf(cmd, "--valid-for must be at least 1s, not %s", validFor)
			}
			if !force {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s already exists; pass --force to replace it", out)
				}
			}

			id, err := loadIdentity(dir)
			if err != nil {
				return err
			}
			if did == id.DID() {
				return usageErrorf(cmd, "invalid --did: %s is this member's own DID; a member cannot invite itself", did)
			}
			f, err := member.ReadFederation(dir)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s belongs to no federation (no %s): found one with 'lattice federation init --name NAME --data-dir %s', or be invited to one",
					dir, member.FederationPath(dir), shellQuote(dir))
			}
			if err != nil {
				return err
			}
			now := time.Now()
			if err := mayInvite(dir, id.DID(), f, now); err != nil {
				return err
			}

			// The credential is recorded in the member's ledger: open (or
			// create) its store before issuing.
			feed, err := openFeed(cmd, dir, id)
			if err != nil {
				return err
			}
			defer feed.close(&err)

			raw, err := identity.IssueMembershipWithFounder(id, f.Name, f.Founder, did, roles, validFor, now)
			if err != nil {
				return err
			}
			m, err := identity.VerifyMembership(raw, f.Name, now)
			if err != nil {
				return fmt.Errorf("issued credential does not verify: %w", err)
			}
			if err := fsutil.WriteFile(out, append(raw, '\n'), 0o600, !force); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%s already exists; pass --force to replace it", out)
				}
				return fmt.Errorf("write credential: %w", err)
			}
			payload, err := json.Marshal(struct {
				Credential json.RawMessage `json:"credential"`
			}{raw})
			if err != nil {
				return err
			}
			if err := feed.record(cmd.Context(), ledger.TypeCredential, payload, now); err != nil {
				return fmt.Errorf("record credential %s in the ledger: %w", m.ID, err)
			}
			w := cmd.OutOrStdout()
			_, err = fmt.Fprintf(w, "credential %s\nsubject    %s\n", m.ID, m.Subject)
			return err
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the issuing member (required)")
	cmd.Flags().StringVar(&did, "did", "", "DID of the member to admit (required)")
	cmd.Flags().StringVar(&out, "out", "", "file to write the credential to (required)")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "roles granted, comma-separated (each a DNS label)")
	cmd.Flags().DurationVar(&validFor, "valid-for", 365*24*time.Hour, "how long the credential is valid")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	_ = cmd.MarkFlagRequired("did")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// mayInvite checks that did, the member of data directory dir, may admit
// members to federation f at now: it is the founder, or dir holds a
// membership credential of f for did, valid at now.
//
// This is the member's own view: it does not walk the issuer's chain back to
// the founder, which peers check (identity.Chain) when the new member joins.
func mayInvite(dir, did string, f *member.Federation, now time.Time) error {
	if did == f.Founder {
		return nil
	}
	path := member.MembershipPath(dir)
	raw, err := member.ReadMembership(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s may not invite: it is not the founder of federation %s (%s) and holds no membership credential (no %s)",
			did, f.Name, f.Founder, path)
	}
	if err != nil {
		return err
	}
	m, err := identity.VerifyMembership(raw, f.Name, now)
	if err != nil {
		return fmt.Errorf("%s may not invite: its membership credential %s is not valid: %w", did, path, err)
	}
	if m.Subject != did {
		return fmt.Errorf("%s may not invite: its membership credential %s was issued to %s, not to it", did, path, m.Subject)
	}
	return nil
}
