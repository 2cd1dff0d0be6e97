package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/member"
)

// newLogger returns the logger of a command: text lines on w (stderr).
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// addDataDirFlag adds the required --data-dir flag.
func addDataDirFlag(cmd *cobra.Command, dir *string, usage string) {
	cmd.Flags().StringVar(dir, "data-dir", "", usage)
	_ = cmd.MarkFlagRequired("data-dir")
}

// withMember runs viaSocket against the member serving data directory dir,
// or, when none runs there, direct against its store, opened for the
// call. This is how every --data-dir command works on running and stopped
// members alike.
func withMember(cmd *cobra.Command, dir string, viaSocket func(*admin.Client) error, direct func(*crdt.Store) error) (err error) {
	if dir == "" {
		return usageErrorf(cmd, "--data-dir must not be empty")
	}
	c, err := admin.Dial(dir)
	if err == nil {
		defer c.Close()
		return viaSocket(c)
	}
	if !errors.Is(err, admin.ErrNoMember) {
		return err
	}
	// Badger's own chatter is of no use to a one-shot command.
	st, err := member.OpenStore(dir, newLogger(cmd.ErrOrStderr(), slog.LevelWarn))
	if errors.Is(err, member.ErrNotDataDir) {
		return fmt.Errorf("%v; pass the --data-dir of a member (e.g. .lattice/member-1 after 'lattice up', or the directory given to 'lattice agent --data-dir')", err)
	}
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	return direct(st)
}

// shellQuote quotes s for a command line shown to the user, if needed.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// closeStore closes st and, if the command had not already failed, reports
// a failure to close (a deferred call: err is the caller's named result).
func closeStore(st *crdt.Store, err *error) {
	if cerr := st.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close store: %w", cerr)
	}
}
