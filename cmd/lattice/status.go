package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/internal/admin"
)

func newStatusCmd() *cobra.Command {
	var dir, dataDir string
	cmd := &cobra.Command{
		Use:   "status [--dir DIR | --data-dir MEMBER-DIR]",
		Short: "Show a local federation's members and federated deployments",
		Long: `Show the members and federated deployments of the federation run by
'lattice up --dir DIR', as seen by the first member that answers (DIR/member-1,
DIR/member-2, …): its replicated store and its failure detector's view.

A member is Ready when it reports its cluster healthy and is in the viewing
member's membership view. For each federated deployment, DESIRED and READY
sum the reports of the members in view; MEMBERS lists each member's
ready/desired replicas.

With --data-dir it asks that member (any 'lattice agent --data-dir').`,
		Example: `  lattice status
  lattice status --dir /tmp/fed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf(cmd, "--dir must not be empty")
			}
			var (
				c      *admin.Client
				viewer string
				err    error
			)
			if cmd.Flags().Changed("data-dir") {
				if c, err = admin.Dial(dataDir); err != nil {
					return err
				}
				viewer = filepath.Base(dataDir)
			} else if c, viewer, err = dialAnyMember(dir); err != nil {
				return err
			}
			defer c.Close()
			return printStatus(cmd.Context(), cmd, c, viewer)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./.lattice", "directory of the federation ('lattice up --dir')")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "ask this running member instead")
	return cmd
}

// dialAnyMember connects to the first running member under dir.
func dialAnyMember(dir string) (*admin.Client, string, error) {
	dirs, _ := filepath.Glob(filepath.Join(dir, "member-*"))
	slices.SortFunc(dirs, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	if len(dirs) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, "", fmt.Errorf("%s does not exist; start a federation with 'lattice up --dir %s'", dir, shellQuote(dir))
		}
		return nil, "", fmt.Errorf("%s holds no members (no %s/member-*); start a federation with 'lattice up --dir %s'", dir, dir, shellQuote(dir))
	}
	for _, d := range dirs {
		c, err := admin.Dial(d)
		if err == nil {
			return c, filepath.Base(d), nil
		}
		if !errors.Is(err, admin.ErrNoMember) {
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("no member of %s is running; start them with 'lattice up --dir %s'", dir, shellQuote(dir))
}

func printStatus(ctx context.Context, cmd *cobra.Command, c *admin.Client, viewer string) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := c.Dump(ctx, &buf, true); err != nil {
		return err
	}
	var (
		members []*federation.Member
		deps    []*federation.FederatedDeployment
		reports []federation.PlacementReport
	)
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var l admin.DumpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("member %s: bad dump line: %w", viewer, err)
		}
		o := crdt.Object{Key: crdt.Key(l.Key), Generation: l.Generation, Value: l.Value}
		switch {
		case strings.HasPrefix(l.Key, federation.MemberPrefix):
			if m, err := federation.DecodeMember(o); err == nil {
				members = append(members, m)
			}
		case strings.HasPrefix(l.Key, federation.DeploymentPrefix):
			if d, err := federation.DecodeDeployment(o); err == nil {
				deps = append(deps, d)
			}
		case strings.HasPrefix(l.Key, federation.PlacementPrefix):
			if r, err := federation.DecodePlacement(o); err == nil {
				reports = append(reports, r)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	live := slices.Sorted(slices.Values(st.Members))
	now := time.Now()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Seen from %s (%d members in its view)\n\nMEMBERS\n", viewer, len(live))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREADY\tREGION\tCLUSTER\tCPU FREE\tMEMORY FREE\tHEARTBEAT\tDID")
	for _, m := range members {
		ready := "NotReady"
		if _, ok := slices.BinarySearch(live, m.Name); ok && federation.MemberReady(m) {
			ready = "Ready"
		}
		cpu, mem := "-", "-"
		if q, ok := m.Status.Allocatable["cpu"]; ok {
			cpu = q.String()
		}
		if q, ok := m.Status.Allocatable["memory"]; ok {
			mem = q.String()
		}
		beat := "-"
		if !m.Status.LastHeartbeat.IsZero() {
			beat = age(now.Sub(m.Status.LastHeartbeat.Time)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, ready, orDash(m.Labels[federation.LabelRegion]), orDash(m.Spec.Cluster), cpu, mem, beat, orDash(m.Spec.DID))
	}
	tw.Flush()
	fmt.Fprintf(out, "\nFEDERATED DEPLOYMENTS\n")
	if len(deps) == 0 {
		fmt.Fprintln(out, "(none)")
		return nil
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREPLICAS\tDESIRED\tREADY\tUNSCHEDULABLE\tAVAILABLE\tMEMBERS")
	for _, d := range deps {
		s := federation.AggregateStatus(d, reports, live, now)
		var per []string
		for _, m := range s.Members {
			per = append(per, fmt.Sprintf("%s=%d/%d", m.Member, m.Ready, m.Desired))
		}
		avail := "False"
		for _, c := range s.Conditions {
			if c.Type == federation.ConditionAvailable && c.Status == "True" {
				avail = "True"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", d.Namespace, d.Name, d.Spec.ReplicasOrDefault(), s.Replicas, s.ReadyReplicas, s.UnschedulableReplicas, avail, orDash(strings.Join(per, ",")))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age formats a duration like kubectl's AGE column.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
