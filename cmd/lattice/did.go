package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/identity"
)

func newDIDCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "did",
		Short: "Create and inspect did:key identities",
		Long: `Create and inspect the did:key identities of Lattice members.

A member is known to the federation by its DID, a did:key derived from an
Ed25519 key: peers authenticate it by that key, and membership credentials
name it. The private key lives in DATA-DIR/identity/key (mode 0600) and
never leaves it.`,
		// Runnable only so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDIDCreateCmd(), newDIDShowCmd(), newDIDResolveCmd())
	return cmd
}

func newDIDCreateCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "create --data-dir DIR",
		Short: "Create the identity of a member and print its DID",
		Long: `Generate an Ed25519 key, store it in DIR/identity/key (mode 0600; DIR and
DIR/identity are created with mode 0700 if needed) and print the member's
new DID, a did:key, on standard output.

An existing identity is never replaced: a member's DID is its identity in
the federation, and a new key would lose its membership. To start over,
use another data directory.`,
		Example: `  lattice did create --data-dir .lattice/member-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			id, err := createIdentity(dir)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), id.DID())
			return err
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the member (required)")
	return cmd
}

func newDIDShowCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "show --data-dir DIR",
		Short: "Print the DID and DID document of a member",
		Long: `Print the DID of the identity in DIR/identity/key on the first line, then
its DID document as JSON. The private key is never printed.

The key file must be readable by its owner only (mode 0600); a key file
that others may read is refused.`,
		Example: `  lattice did show --data-dir .lattice/member-1
  lattice did show --data-dir .lattice/member-1 | head -1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			id, err := loadIdentity(dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if _, err := fmt.Fprintln(out, id.DID()); err != nil {
				return err
			}
			return printJSON(out, id.Document())
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the member (required)")
	return cmd
}

func newDIDResolveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resolve DID",
		Short: "Print the DID document of a did:key DID",
		Long: `Print the DID document of DID as JSON. Only did:key DIDs with Ed25519 keys
are supported; they resolve offline, since the key is part of the DID.`,
		Example: `  lattice did resolve did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, doc, err := identity.Resolve(args[0])
			if err != nil {
				return fmt.Errorf("cannot resolve DID: %w", err)
			}
			return printJSON(cmd.OutOrStdout(), doc)
		},
	}
}

// createIdentity generates a new identity and saves it in data directory
// dir, which must not hold one yet.
func createIdentity(dir string) (*identity.Identity, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	if err := id.Save(dir); err != nil {
		if errors.Is(err, identity.ErrIdentityExists) {
			return nil, fmt.Errorf("%s already holds an identity (%s), which is never replaced; 'lattice did show --data-dir %s' prints it",
				dir, identity.KeyPath(dir), shellQuote(dir))
		}
		return nil, err
	}
	return id, nil
}

// loadIdentity loads the identity of data directory dir; a missing one is
// an error that says how to create it.
func loadIdentity(dir string) (*identity.Identity, error) {
	id, err := identity.Load(dir)
	if errors.Is(err, identity.ErrNoIdentity) {
		return nil, fmt.Errorf("%s has no identity (no %s); create one with 'lattice did create --data-dir %s'",
			dir, identity.KeyPath(dir), shellQuote(dir))
	}
	return id, err
}

// loadOrCreateIdentity loads the identity of data directory dir, creating
// it first (as 'lattice did create' does) if there is none.
func loadOrCreateIdentity(dir string) (*identity.Identity, error) {
	id, err := identity.Load(dir)
	if errors.Is(err, identity.ErrNoIdentity) {
		return createIdentity(dir)
	}
	return id, err
}

// printJSON writes v as indented JSON and a newline.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
