package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/member"
)

func newVCCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vc",
		Short: "Verify Verifiable Credentials",
		Long: `Verify the W3C Verifiable Credentials Lattice issues, such as the
membership credentials of 'lattice invite'.`,
		// Runnable only so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newVCVerifyCmd())
	return cmd
}

func newVCVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a credential and print what it says",
		Long: `Verify the credential in FILE: its form, its issuer's signature (the key is
the issuer's did:key; nothing is fetched) and that it is valid now. Print
its ID, issuer, subject, types and validity, and for a membership credential
its federation and roles.

An invalid credential is an error (exit status 1) saying why: expired, not
yet valid, bad signature, malformed, unsupported.

Verification does not check that the issuer is a member of the federation:
peers check the whole chain of credentials back to the founder.`,
		Example: `  lattice vc verify member-2.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			raw, err := member.ReadLimited(path, identity.MaxCredentialSize)
			if err != nil {
				return err
			}
			now := time.Now()
			c, err := identity.VerifyCredential(raw, now)
			if err != nil {
				return fmt.Errorf("%s: invalid credential: %w", path, err)
			}
			var m *identity.Membership
			if c.HasType(identity.MembershipCredentialType) {
				fed, _ := c.Claims["federation"].(string)
				if m, err = identity.VerifyMembership(raw, fed, now); err != nil {
					return fmt.Errorf("%s: invalid membership credential: %w", path, err)
				}
			}

			var b strings.Builder
			line := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k+":", v) }
			line("id", c.ID)
			line("issuer", c.Issuer)
			line("subject", c.Subject)
			line("types", strings.Join(c.Types, ", "))
			line("valid from", c.IssuedAt.UTC().Format(time.RFC3339))
			if c.ExpiresAt.IsZero() {
				line("valid until", "no expiry")
			} else {
				line("valid until", c.ExpiresAt.UTC().Format(time.RFC3339))
			}
			if m != nil {
				line("federation", m.Federation)
				roles := "(none)"
				if len(m.Roles) > 0 {
					roles = strings.Join(m.Roles, ", ")
				}
				line("roles", roles)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), b.String())
			return err
		},
	}
}
