package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/member"
	"github.com/lattice-federation/lattice/ledger"
)

// entryKeyPrefix is the store prefix of every ledger entry object.
const entryKeyPrefix = ledger.LedgerGroup + "/" + ledger.EntryKind + "/"

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the signed ledger in a member's store",
		// Runnable only so that an unknown subcommand is an error, not help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newLedgerShowCmd())
	return cmd
}

func newLedgerShowCmd() *cobra.Command {
	var dir, author string
	cmd := &cobra.Command{
		Use:   "show --data-dir DIR [--author DID]",
		Short: "Verify and print the ledger entries of a member's store",
		Long: `Read every ledger entry object (ledger.lattice.dev/Entry/...) of the
member's store, verify the entries feed by feed in (author, seq) order as
every replica does (well-formed, of a known type, signed by the author,
continuing the author's hash chain), and print one line per entry:

  AUTHOR SEQ TYPE TIME HASH ok|REJECTED: reason

HASH is the first 8 bytes of the entry's hash, in hex. --author shows the
feed of one DID only. Exits with status 1 if any entry is rejected.

Works on a running member (through its admin socket DIR/admin.sock) and on a
stopped one (opening its store directly).`,
		Example: `  lattice ledger show --data-dir .lattice/member-1
  lattice ledger show --data-dir .lattice/member-1 --author did:key:z6Mk...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prefix := entryKeyPrefix
			if cmd.Flags().Changed("author") {
				if _, _, err := identity.Resolve(author); err != nil {
					return usageErrorf(cmd, "invalid --author: %v", err)
				}
				p, err := ledger.EntryPrefix(author)
				if err != nil {
					return usageErrorf(cmd, "invalid --author: %v", err)
				}
				prefix = p
			}
			// The same dump 'lattice store dump' prints, filtered here.
			var dump bytes.Buffer
			err := withMember(cmd, dir,
				func(c *admin.Client) error { return c.Dump(cmd.Context(), &dump, true) },
				func(st *crdt.Store) error { return admin.Dump(&dump, st, true) },
			)
			if err != nil {
				return err
			}
			objs, err := dumpObjects(&dump, prefix)
			if err != nil {
				return err
			}
			return showLedger(cmd, objs)
		},
	}
	addDataDirFlag(cmd, &dir, "data directory of the member (required)")
	cmd.Flags().StringVar(&author, "author", "", "show only the feed of this did:key DID")
	return cmd
}

// dumpObjects parses a dump (see admin.DumpLine) and returns its lines
// whose key starts with prefix.
func dumpObjects(dump *bytes.Buffer, prefix string) ([]admin.DumpLine, error) {
	var out []admin.DumpLine
	sc := bufio.NewScanner(dump)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l admin.DumpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("bad dump line: %w", err)
		}
		if strings.HasPrefix(l.Key, prefix) {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// showLedger verifies the entry objects objs with a fresh ledger in
// (author, seq) order and prints one line per object.
func showLedger(cmd *cobra.Command, objs []admin.DumpLine) error {
	type item struct {
		key string
		e   *ledger.Entry
		err error
	}
	items := make([]item, len(objs))
	for i, o := range objs {
		e, err := ledger.EntryFromObject(o.Value)
		items[i] = item{key: o.Key, e: e, err: err}
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.e == nil || b.e == nil {
			// Undecodable objects sort by key, after decoded ones.
			if (a.e == nil) != (b.e == nil) {
				return b.e == nil
			}
			return a.key < b.key
		}
		if a.e.Author != b.e.Author {
			return a.e.Author < b.e.Author
		}
		return a.e.Seq < b.e.Seq
	})

	l := ledger.New()
	w := bufio.NewWriter(cmd.OutOrStdout())
	rejected := 0
	for _, it := range items {
		if it.err != nil {
			rejected++
			fmt.Fprintf(w, "%s - - - - REJECTED: %v\n", it.key, it.err)
			continue
		}
		e := it.e
		hash := "-"
		if h, err := e.Hash(); err == nil {
			hash = hex.EncodeToString(h[:8])
		}
		status := "ok"
		if _, err := l.Apply(e); err != nil {
			rejected++
			status = "REJECTED: " + err.Error()
		}
		fmt.Fprintf(w, "%s %d %s %s %s %s\n", e.Author, e.Seq, e.Type,
			e.Time.Time().UTC().Format("2006-01-02T15:04:05.000Z07:00"), hash, status)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if rejected > 0 {
		return fmt.Errorf("%d of %d ledger entries rejected", rejected, len(items))
	}
	return nil
}

// feedRecorder appends entries to the feed of a data directory's member:
// through its admin socket when it runs (the member is its feed's single
// writer), else straight into its store.
type feedRecorder struct {
	c      *admin.Client
	st     *crdt.Store
	signer identity.Signer
}

// openFeed opens the feed of data directory dir, whose identity is signer.
// A stopped member's store is created if there is none (member.Init, with
// the DID as replica ID for a new directory).
func openFeed(cmd *cobra.Command, dir string, signer identity.Signer) (*feedRecorder, error) {
	c, err := admin.Dial(dir)
	if err == nil {
		return &feedRecorder{c: c, signer: signer}, nil
	}
	if !errors.Is(err, admin.ErrNoMember) {
		return nil, err
	}
	st, err := openFeedStore(cmd, dir, signer.DID())
	if err != nil {
		return nil, err
	}
	return &feedRecorder{st: st, signer: signer}, nil
}

func (f *feedRecorder) record(ctx context.Context, typ string, payload []byte, now time.Time) error {
	if f.c != nil {
		_, err := f.c.LedgerAppend(ctx, typ, payload)
		return err
	}
	_, err := member.AppendLedger(ctx, f.st, f.signer, typ, payload, now)
	return err
}

// close releases the feed; a deferred call, err is the caller's result.
func (f *feedRecorder) close(err *error) {
	if f.c != nil {
		f.c.Close()
		return
	}
	closeStore(f.st, err)
}

// openFeedStore opens the store of data directory dir for writing, creating
// it (member.Init, replica ID did for a new directory) if there is none.
func openFeedStore(cmd *cobra.Command, dir, did string) (*crdt.Store, error) {
	log := newLogger(cmd.ErrOrStderr(), slog.LevelWarn)
	err := member.CheckDataDir(dir)
	if err == nil {
		return member.OpenStore(dir, log)
	}
	if !errors.Is(err, member.ErrNotDataDir) {
		return nil, err
	}
	want := crdt.ReplicaID(did)
	if _, err := member.ReadID(dir); err == nil {
		want = "" // keep the directory's ID
	}
	rid, err := member.Init(dir, want)
	if err != nil {
		return nil, err
	}
	cfg := crdt.DefaultStoreConfig(member.StorePath(dir), rid)
	cfg.Logger = log
	return crdt.OpenStore(cfg)
}
