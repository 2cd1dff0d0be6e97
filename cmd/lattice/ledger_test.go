package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/member"
	"github.com/lattice-federation/lattice/ledger"
)

var ledgerLine = regexp.MustCompile(`^(did:key:\S+) (\d+) (\S+) (\S+) ([0-9a-f]{16}) (ok|REJECTED: .*)$`)

func TestLedgerShowRecordsFoundingAndInvite(t *testing.T) {
	fdir, fdid := founder(t, "acme")
	_, did := newMember(t, "m2")
	cred := filepath.Join(t.TempDir(), "cred.json")
	_, errOut, code := runCLI(t, "", "invite", "--data-dir", fdir, "--did", did, "--out", cred)
	require.Equal(t, 0, code, errOut)

	// A new data directory's replica ID is the founder's DID.
	rid, err := member.ReadID(fdir)
	require.NoError(t, err)
	require.Equal(t, crdt.ReplicaID(fdid), rid)

	out, errOut, code := runCLI(t, "", "ledger", "show", "--data-dir", fdir)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2, out)
	for i, want := range []string{ledger.TypeDIDRegistration, ledger.TypeCredential} {
		m := ledgerLine.FindStringSubmatch(lines[i])
		require.NotNil(t, m, lines[i])
		require.Equal(t, fdid, m[1])
		require.Equal(t, []string{want, "ok"}, []string{m[3], m[6]})
		require.Equal(t, string(rune('1'+i)), m[2])
	}

	// The entries are chained and carry the DID document and the credential.
	st, err := member.OpenStore(fdir, nil)
	require.NoError(t, err)
	k1, err := ledger.EntryKey(fdid, 1)
	require.NoError(t, err)
	k2, err := ledger.EntryKey(fdid, 2)
	require.NoError(t, err)
	o1, err := st.Get(k1)
	require.NoError(t, err)
	o2, err := st.Get(k2)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	e1, err := ledger.EntryFromObject(o1.Value)
	require.NoError(t, err)
	e2, err := ledger.EntryFromObject(o2.Value)
	require.NoError(t, err)
	h1, err := e1.Hash()
	require.NoError(t, err)
	require.Equal(t, h1, e2.Prev)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(e1.Payload, &doc))
	require.Equal(t, fdid, doc["id"])
	var p struct{ Credential map[string]any }
	require.NoError(t, json.Unmarshal(e2.Payload, &p))
	require.NotEmpty(t, p.Credential["proof"])

	// --author filters.
	out2, errOut, code := runCLI(t, "", "ledger", "show", "--data-dir", fdir, "--author", fdid)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, out, out2)
	out2, errOut, code = runCLI(t, "", "ledger", "show", "--data-dir", fdir, "--author", did)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out2)

	// Founding again changes nothing.
	_, errOut, code = runCLI(t, "", "federation", "init", "--name", "acme", "--data-dir", fdir)
	require.Equal(t, 0, code, errOut)
	out2, _, code = runCLI(t, "", "ledger", "show", "--data-dir", fdir)
	require.Equal(t, 0, code)
	require.Equal(t, out, out2)
}

func TestLedgerShowRejectsTamperedEntry(t *testing.T) {
	fdir, fdid := founder(t, "acme")
	_, did := newMember(t, "m2")
	_, errOut, code := runCLI(t, "", "invite", "--data-dir", fdir, "--did", did, "--out", filepath.Join(t.TempDir(), "c.json"))
	require.Equal(t, 0, code, errOut)

	st, err := member.OpenStore(fdir, nil)
	require.NoError(t, err)
	key, err := ledger.EntryKey(fdid, 2)
	require.NoError(t, err)
	o, err := st.Get(key)
	require.NoError(t, err)
	e, err := ledger.EntryFromObject(o.Value)
	require.NoError(t, err)
	e = e.Clone()
	e.Payload = []byte(`{"credential":{"forged":true}}`)
	obj, err := ledger.EntryObject(e)
	require.NoError(t, err)
	_, err = st.Put(context.Background(), key, obj, crdt.PutOptions{Mode: crdt.PutUpsert})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	out, errOut, code := runCLI(t, "", "ledger", "show", "--data-dir", fdir)
	require.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, ` 1 did-registration .* ok$`, lines[0])
	require.Regexp(t, ` 2 credential .* REJECTED: .*signature`, lines[1])
	require.Equal(t, "lattice: 1 of 2 ledger entries rejected\n", errOut)
}

func TestLedgerShowErrors(t *testing.T) {
	fdir, _ := founder(t, "acme")
	_, errOut, code := runCLI(t, "", "ledger", "show", "--data-dir", fdir, "--author", "did:web:example.com")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "invalid --author")
	require.Contains(t, errOut, "--help")

	_, errOut, code = runCLI(t, "", "ledger", "show", "--data-dir", t.TempDir())
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not a Lattice data directory")
}

func TestLedgerOnRunningMember(t *testing.T) {
	dir := filepath.Join(shortDir(t), "f")
	_, errOut, code := runCLI(t, "", "federation", "init", "--name", "acme", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	stopped, errOut, code := runCLI(t, "", "ledger", "show", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- member.Run(ctx, member.Config{Dir: dir, Logger: newLogger(io.Discard, slog.LevelError), Ready: func(crdt.ReplicaID) { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	<-ready

	// Read through the admin socket.
	out, errOut, code := runCLI(t, "", "ledger", "show", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, stopped, out)

	// Writing goes through the running member, its feed's single writer.
	_, did := newMember(t, "m2")
	cred := filepath.Join(t.TempDir(), "c.json")
	out, errOut, code = runCLI(t, "", "invite", "--data-dir", dir, "--did", did, "--out", cred)
	require.Equal(t, 0, code, errOut)
	require.FileExists(t, cred)
	credID := strings.Fields(strings.Split(out, "\n")[0])[1]
	out, errOut, code = runCLI(t, "", "revoke", "--data-dir", dir, "--credential", credID)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "revoked "+credID)
	out, errOut, code = runCLI(t, "", "ledger", "show", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Contains(t, lines[1], " credential ")
	require.Contains(t, lines[2], " revocation ")
	for _, l := range lines {
		require.True(t, strings.HasSuffix(l, " ok"), l)
	}

	// Bad requests are refused with the reason, and nothing is appended.
	_, errOut, code = runCLI(t, "", "revoke", "--data-dir", dir, "--credential", "not-an-id")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "invalid --credential")
	c, err := admin.Dial(dir)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.LedgerAppend(context.Background(), "gossip", []byte(`{}`))
	require.ErrorContains(t, err, "unknown ledger entry type")
	_, err = c.LedgerAppend(context.Background(), "revocation", []byte(`"`+strings.Repeat("a", 70<<10)+`"`))
	require.ErrorContains(t, err, "HTTP 400")
	require.ErrorContains(t, err, "payload of")
	out2, _, _ := runCLI(t, "", "ledger", "show", "--data-dir", dir)
	require.Equal(t, out, out2)
}
