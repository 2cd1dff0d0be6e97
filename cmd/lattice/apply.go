package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/manifest"
)

func newApplyCmd() *cobra.Command {
	var file, dir string
	cmd := &cobra.Command{
		Use:   "apply -f FILE --data-dir DIR",
		Short: "Write objects through a member's store",
		Long: `Create or update Kubernetes-style objects in a member's store, like
'kubectl apply': each object is upserted and reported as created, configured
or unchanged. Its generation increases when it is new or its spec changed.

FILE ("-" for standard input) holds YAML documents separated by "---", or
JSON: one or more objects, or a List with items. Every object needs
apiVersion, kind and metadata.name, and may be at most 1.5 MiB as JSON.
Every kind is namespaced (metadata.namespace defaults to "default") except
Member, which is cluster-scoped. metadata.resourceVersion and
metadata.generation are assigned by the store and ignored in the input.

If any object is invalid, nothing is written. The store key of an object is
GROUP/KIND/NAMESPACE/NAME, GROUP being the part of apiVersion before "/"
(empty for the core group, e.g. apiVersion v1).

Works on a running member (through its admin socket DIR/admin.sock) and on a
stopped one (opening its store directly).`,
		Example: `  lattice apply -f web.yaml --data-dir .lattice/member-1
  kubectl create configmap cfg --from-literal=a=b --dry-run=client -o yaml | lattice apply -f - --data-dir .lattice/member-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf(cmd, "-f must name a file, or - for standard input")
			}
			if dir == "" {
				return usageErrorf(cmd, "--data-dir must not be empty")
			}
			objs, err := readObjects(cmd, file)
			if err != nil {
				return err
			}
			var results []admin.ApplyResult
			err = withMember(cmd, dir,
				func(c *admin.Client) error {
					var err error
					results, err = c.Apply(cmd.Context(), objs)
					return err
				},
				func(st *crdt.Store) error {
					var err error
					results, err = admin.Apply(cmd.Context(), st, objs)
					return err
				},
			)
			// Report what was done even if a later request failed.
			var failed []string
			out := cmd.OutOrStdout()
			for i, r := range results {
				if r.Error != "" {
					failed = append(failed, fmt.Sprintf("%s: %s: %s", objs[i].Origin, objs[i].DisplayName(), r.Error))
					continue
				}
				if _, werr := fmt.Fprintf(out, "%s %s\n", objs[i].DisplayName(), r.Action); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				if len(results) > 0 && len(results) < len(objs) {
					return fmt.Errorf("%w (after applying %d of %d objects)", err, len(results), len(objs))
				}
				return err
			}
			switch len(failed) {
			case 0:
				return nil
			case 1:
				return fmt.Errorf("%s", failed[0])
			default:
				msg := fmt.Sprintf("%d of %d objects failed: %s", len(failed), len(objs), strings.Join(failed[:min(len(failed), 3)], "; "))
				if len(failed) > 3 {
					msg += fmt.Sprintf(" (and %d more)", len(failed)-3)
				}
				return fmt.Errorf("%s", msg)
			}
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", `file with the objects, "-" for standard input (required)`)
	_ = cmd.MarkFlagRequired("filename")
	addDataDirFlag(cmd, &dir, "data directory of the member to write through (required)")
	return cmd
}

// readObjects parses the objects of file ("-": standard input).
func readObjects(cmd *cobra.Command, file string) ([]manifest.Object, error) {
	var r io.Reader
	name := file
	if file == "-" {
		r, name = cmd.InOrStdin(), "stdin"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("cannot read objects: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory; -f takes a file", file)
		}
		r = f
	}
	return manifest.Parse(r, name)
}
