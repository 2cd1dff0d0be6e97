package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time by the Makefile:
//
//	-ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)"
var (
	version = "dev"
	commit  = "unknown"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of lattice",
		Long: `Print the lattice version, the commit it was built from and the Go version,
as "lattice <version> (<commit>, <go version>)".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo() // nil if not built with module support
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString(version, commit, bi))
			return err
		},
	}
}

// versionString renders "lattice <version> (<commit>, <go version>)". Values
// not set at link time fall back to what the Go toolchain stamped into the
// binary: the module version (go install ...@vX.Y.Z) and the VCS revision
// (builds from a checkout with -buildvcs, suffixed -dirty if modified).
func versionString(version, commit string, bi *debug.BuildInfo) string {
	if bi != nil {
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		if commit == "unknown" {
			var rev string
			var dirty bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if rev != "" {
				if len(rev) > 12 {
					rev = rev[:12]
				}
				if dirty {
					rev += "-dirty"
				}
				commit = rev
			}
		}
	}
	return fmt.Sprintf("lattice %s (%s, %s)", version, commit, runtime.Version())
}
