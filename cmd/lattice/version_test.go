package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// execRoot runs the root command with args, as main does, and returns what it
// wrote to stdout and stderr.
func execRoot(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func setBuildVars(t *testing.T, v, c string) {
	t.Helper()
	oldV, oldC := version, commit
	version, commit = v, c
	t.Cleanup(func() { version, commit = oldV, oldC })
}

func TestVersionCommand(t *testing.T) {
	setBuildVars(t, "v1.2.3", "abc1234")
	stdout, stderr, err := execRoot(t, "version")
	if err != nil {
		t.Fatalf("lattice version: %v", err)
	}
	want := "lattice v1.2.3 (abc1234, " + runtime.Version() + ")\n"
	if stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestVersionCommandDefaults(t *testing.T) {
	setBuildVars(t, "dev", "unknown")
	stdout, _, err := execRoot(t, "version")
	if err != nil {
		t.Fatalf("lattice version: %v", err)
	}
	// A test binary carries no VCS stamp, but tolerate one in case a
	// toolchain adds it: the commit is either the default or a revision.
	re := regexp.MustCompile(`^lattice \S+ \((unknown|[0-9a-f]{1,12}(-dirty)?), ` + regexp.QuoteMeta(runtime.Version()) + `\)\n$`)
	if !re.MatchString(stdout) {
		t.Errorf("stdout = %q, want match for %s", stdout, re)
	}
}

func TestVersionStringFallsBackToBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/lattice-federation/lattice", Version: "v0.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	gov := runtime.Version()
	for _, tc := range []struct {
		name, version, commit string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"no build info", "dev", "unknown", nil, "lattice dev (unknown, " + gov + ")"},
		{"build info fills defaults", "dev", "unknown", bi, "lattice v0.4.0 (0123456789ab-dirty, " + gov + ")"},
		{"ldflags win", "v1.0.0", "feedbee", bi, "lattice v1.0.0 (feedbee, " + gov + ")"},
		{"devel module version ignored", "dev", "unknown",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "lattice dev (unknown, " + gov + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionString(tc.version, tc.commit, tc.bi); got != tc.want {
				t.Errorf("versionString = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// wantLine is the exact stderr of run(): one line, with a pointer to help.
		wantLine string
	}{
		{"unknown command", []string{"frobnicate"},
			`lattice: unknown command "frobnicate" for "lattice"; run 'lattice --help' for usage`},
		{"misspelt command", []string{"verison"},
			`lattice: unknown command "verison" for "lattice" (did you mean "version"?); run 'lattice --help' for usage`},
		{"unknown root flag", []string{"--no-such-flag"},
			`lattice: unknown flag: --no-such-flag; run 'lattice --help' for usage`},
		{"unknown subcommand flag", []string{"version", "--no-such-flag"},
			`lattice: unknown flag: --no-such-flag; run 'lattice version --help' for usage`},
		{"extra argument", []string{"version", "extra"},
			`lattice: unknown command "extra" for "lattice version"; run 'lattice version --help' for usage`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := execRoot(t, tc.args...)
			if err == nil {
				t.Fatalf("lattice %s: want an error, got none", strings.Join(tc.args, " "))
			}
			// Cobra must not print anything itself: main reports the error.
			if stdout != "" || stderr != "" {
				t.Errorf("cobra printed output: stdout=%q stderr=%q", stdout, stderr)
			}

			var out, errOut bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errOut); code != 1 {
				t.Errorf("exit status = %d, want 1", code)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
			if got := errOut.String(); got != tc.wantLine+"\n" {
				t.Errorf("stderr = %q, want %q", got, tc.wantLine+"\n")
			}
		})
	}
}

func TestRuntimeAndCommandUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      func(*cobra.Command) error
		wantLine string
	}{
		{"runtime error: one line, no help pointer",
			func(*cobra.Command) error { return errors.New("disk full\nwhile writing x") },
			"disk full; while writing x"},
		{"usage error from RunE points at help",
			func(c *cobra.Command) error { return usageErrorf(c, "--members must be at least 1, got %d", 0) },
			"--members must be at least 1, got 0; run 'lattice fail --help' for usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCmd()
			// A command added the way real ones are, failing in RunE.
			failing := &cobra.Command{
				Use:  "fail",
				Args: cobra.NoArgs,
				RunE: func(c *cobra.Command, _ []string) error { return tc.err(c) },
			}
			markRuntimeErrors(failing)
			root.AddCommand(failing)

			var out, errOut bytes.Buffer
			root.SetArgs([]string{"fail"})
			root.SetOut(&out)
			root.SetErr(&errOut)
			cmd, err := root.ExecuteC()
			if err == nil {
				t.Fatal("want an error")
			}
			if out.Len() != 0 || errOut.Len() != 0 {
				t.Errorf("cobra printed output (usage dump?): stdout=%q stderr=%q", out.String(), errOut.String())
			}
			if got := errorLine(cmd, err); got != tc.wantLine {
				t.Errorf("errorLine = %q, want %q", got, tc.wantLine)
			}
		})
	}
}

func TestHelpSucceeds(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit status = %d, want 0 (stderr %q)", code, errOut.String())
	}
	if !strings.Contains(out.String(), "version") {
		t.Errorf("help does not list the version command:\n%s", out.String())
	}
}
