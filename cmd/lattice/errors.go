package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// usageError is a mistake in how the command was invoked. Commands return it
// (through usageErrorf) for flag combinations or values cobra cannot check,
// so that the message points at --help like cobra's own usage errors.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error for cmd.
func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// runtimeError marks an error returned while a command was running (as
// opposed to cobra rejecting the invocation). Only markRuntimeErrors creates
// it.
type runtimeError struct{ err error }

func (e *runtimeError) Error() string { return e.err.Error() }
func (e *runtimeError) Unwrap() error { return e.err }

// markRuntimeErrors wraps the error-returning hooks of cmd and all its
// descendants so that their errors are recognisable as runtime errors. Cobra
// reports unknown commands, bad flags and wrong arguments before any of these
// hooks run, so whatever error is not marked is a usage error.
func markRuntimeErrors(cmd *cobra.Command) {
	for _, hook := range []*func(*cobra.Command, []string) error{
		&cmd.PersistentPreRunE, &cmd.PreRunE, &cmd.RunE, &cmd.PostRunE, &cmd.PersistentPostRunE,
	} {
		if f := *hook; f != nil {
			*hook = func(c *cobra.Command, args []string) error {
				if err := f(c, args); err != nil {
					if ue := (*usageError)(nil); errors.As(err, &ue) {
						return err
					}
					return &runtimeError{err: err}
				}
				return nil
			}
		}
	}
	for _, sub := range cmd.Commands() {
		markRuntimeErrors(sub)
	}
}
