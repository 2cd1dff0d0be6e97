// Command lattice is the single Lattice binary: it starts local federations
// (up), runs a member (agent), drives the simulator (sim) and inspects
// identities, contracts, stores and ledgers.
//
// This file and root.go are the only wiring: every subcommand lives in its own
// file as newXCmd() *cobra.Command and is registered in newRootCmd. Commands
// stay thin; the logic lives in the library packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx and commands shut down cleanly; restore
	// the default handling then, so that a second one ends a shutdown that
	// hangs.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI with args and returns the process exit status. Any
// error is reported on stderr as one line, "lattice: <error>", never with a
// stack trace or a usage dump; usage errors (unknown command or flag, wrong
// arguments) also say where to find help.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "lattice: %s\n", errorLine(cmd, err))
	return 1
}

// errorLine renders err as a single line. Errors returned by a command's own
// hooks (RunE and friends) are runtime errors and are shown as they are;
// everything cobra rejects before running a command, and errors built with
// usageErrorf, are usage errors and get a pointer to --help.
func errorLine(cmd *cobra.Command, err error) string {
	var rt *runtimeError
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		return oneLine(ue.err.Error()) + helpHint(ue.cmd)
	case errors.As(err, &rt):
		return oneLine(rt.err.Error())
	default:
		return oneLine(err.Error()) + helpHint(cmd)
	}
}

func helpHint(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	return fmt.Sprintf("; run '%s --help' for usage", cmd.CommandPath())
}

// oneLine folds a possibly multi-line message into one line. Cobra appends
// "Did you mean this?" suggestions to unknown-command errors on separate
// lines; those become a trailing "(did you mean ...?)".
func oneLine(msg string) string {
	const didYouMean = "Did you mean this?"
	var suggestions []string
	if i := strings.Index(msg, didYouMean); i >= 0 {
		suggestions = strings.Fields(msg[i+len(didYouMean):])
		msg = msg[:i]
	}
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	out := strings.Join(parts, "; ")
	if len(suggestions) > 0 {
		for i, s := range suggestions {
			suggestions[i] = fmt.Sprintf("%q", s)
		}
		out += fmt.Sprintf(" (did you mean %s?)", strings.Join(suggestions, " or "))
	}
	return out
}
