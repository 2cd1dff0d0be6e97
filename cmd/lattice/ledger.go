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

// checkNoMember fails if a member runs on data directory dir: ledger
// entries cannot be written through its admin socket yet.
func checkNoMember(dir string) error {
	c, err := admin.Dial(dir)
	if err == nil {
		c.Close()
		return fmt.Errorf("a member is running on %s; stop the member first (recording ledger entries through a running member is not supported yet)", dir)
	}
	if !errors.Is(err, admin.ErrNoMember) {
		return err
	}
	return nil
}

// openFeedStore opens the store of data directory dir for writing, creating
// it (member.Init, replica ID did for a new directory) if there is none.
func openFeedStore(cmd *cobra.Command, dir, did string) (*crdt.Store, error) {
	if err := checkNoMember(dir); err != nil {
		return nil, err
	}
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

// appendEntry continues signer's feed from its last entry in st, appends an
// entry and creates its object.
func appendEntry(ctx context.Context, st *crdt.Store, signer identity.Signer, typ string, payload []byte, now time.Time) error {
	prefix, err := ledger.EntryPrefix(signer.DID())
	if err != nil {
		return err
	}
	objs, _, err := st.List(prefix)
	if err != nil {
		return err
	}
	feed := ledger.NewFeed(signer)
	if len(objs) > 0 {
		// Keys end in the zero-padded seq: the last one is the head.
		last, err := ledger.EntryFromObject(objs[len(objs)-1].Value)
		if err != nil {
			return fmt.Errorf("last ledger entry %s: %w", objs[len(objs)-1].Key, err)
		}
		if feed, err = ledger.RestoreFeed(signer, last); err != nil {
			return fmt.Errorf("last ledger entry %s: %w", objs[len(objs)-1].Key, err)
		}
	}
	e, err := feed.Append(typ, payload, crdt.MakeTimestamp(now.UnixMilli(), 0))
	if err != nil {
		return err
	}
	key, err := ledger.EntryKey(e.Author, e.Seq)
	if err != nil {
		return err
	}
	obj, err := ledger.EntryObject(e)
	if err != nil {
		return err
	}
	if _, err := st.Create(ctx, key, obj); err != nil {
		return fmt.Errorf("store ledger entry %s: %w", key, err)
	}
	return nil
}
