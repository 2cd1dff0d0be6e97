package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/identity"
)

// newMember creates an identity in a new data directory and returns the
// directory and the DID.
func newMember(t *testing.T, name string) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	out, errOut, code := runCLI(t, "", "did", "create", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	return dir, strings.TrimSuffix(out, "\n")
}

// founder founds federation name in a new data directory and returns the
// directory and the founder's DID.
func founder(t *testing.T, name string) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "founder")
	out, errOut, code := runCLI(t, "", "federation", "init", "--name", name, "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	id, err := identity.Load(dir)
	require.NoError(t, err)
	require.Equal(t, "federation "+name+" founded by "+id.DID()+"\n", out)
	return dir, id.DID()
}

func requirePerm(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, perm, fi.Mode().Perm(), path)
}

func TestFederationInviteVerify(t *testing.T) {
	fdir, fdid := founder(t, "acme")
	requirePerm(t, filepath.Join(fdir, "federation.json"), 0o600)
	requirePerm(t, identity.KeyPath(fdir), 0o600)
	raw, err := os.ReadFile(filepath.Join(fdir, "federation.json"))
	require.NoError(t, err)
	var f map[string]any
	require.NoError(t, json.Unmarshal(raw, &f))
	require.Len(t, f, 3)
	require.Equal(t, "acme", f["name"])
	require.Equal(t, fdid, f["founder"])
	created, err := time.Parse(time.RFC3339, f["created"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), created, time.Minute)

	// Same name again: idempotent, same output, file unchanged.
	out, errOut, code := runCLI(t, "", "federation", "init", "--name", "acme", "--data-dir", fdir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "federation acme founded by "+fdid+"\n", out)
	again, err := os.ReadFile(filepath.Join(fdir, "federation.json"))
	require.NoError(t, err)
	require.Equal(t, raw, again)

	// The founder invites member 2.
	m2dir, m2did := newMember(t, "m2")
	cred := filepath.Join(t.TempDir(), "m2.json")
	out, errOut, code = runCLI(t, "", "invite", "--data-dir", fdir, "--did", m2did, "--out", cred, "--roles", "ops,admin", "--valid-for", "720h")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.Regexp(t, regexp.MustCompile(`^credential urn:uuid:[0-9a-f-]{36}\nsubject    `+regexp.QuoteMeta(m2did)+`\n$`), out)
	requirePerm(t, cred, 0o600)
	credRaw, err := os.ReadFile(cred)
	require.NoError(t, err)
	m, err := identity.VerifyMembership(credRaw, "acme", time.Now())
	require.NoError(t, err)
	require.Equal(t, fdid, m.Issuer)
	require.Equal(t, m2did, m.Subject)
	require.Equal(t, []string{"admin", "ops"}, m.Roles)
	require.WithinDuration(t, time.Now().Add(720*time.Hour), m.ExpiresAt, time.Minute)
	require.Contains(t, out, m.ID)

	out, errOut, code = runCLI(t, "", "vc", "verify", cred)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.Equal(t, "id:          "+m.ID+"\n"+
		"issuer:      "+fdid+"\n"+
		"subject:     "+m2did+"\n"+
		"types:       VerifiableCredential, LatticeMembershipCredential\n"+
		"valid from:  "+m.IssuedAt.UTC().Format(time.RFC3339)+"\n"+
		"valid until: "+m.ExpiresAt.UTC().Format(time.RFC3339)+"\n"+
		"federation:  acme\n"+
		"roles:       admin, ops\n", out)

	// Member 2, holding its credential, invites member 3.
	require.NoError(t, os.WriteFile(filepath.Join(m2dir, "federation.json"), raw, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(m2dir, "membership.json"), credRaw, 0o600))
	_, m3did := newMember(t, "m3")
	cred3 := filepath.Join(t.TempDir(), "m3.json")
	out, errOut, code = runCLI(t, "", "invite", "--data-dir", m2dir, "--did", m3did, "--out", cred3)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, m3did)
	out, errOut, code = runCLI(t, "", "vc", "verify", cred3)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "issuer:      "+m2did+"\n")
	require.Contains(t, out, "roles:       (none)\n")
	c3, err := identity.VerifyCredential(mustRead(t, cred3), time.Now())
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(8760*time.Hour), c3.ExpiresAt, time.Minute)

	// Existing --out: refused without --force, replaced with it.
	before := mustRead(t, cred)
	out, errOut, code = runCLI(t, "", "invite", "--data-dir", fdir, "--did", m2did, "--out", cred)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Equal(t, "lattice: "+cred+" already exists; pass --force to replace it\n", errOut)
	require.Equal(t, before, mustRead(t, cred))
	require.NoError(t, os.Chmod(cred, 0o644))
	out, errOut, code = runCLI(t, "", "invite", "--data-dir", fdir, "--did", m2did, "--out", cred, "--force")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, m2did)
	require.NotEqual(t, before, mustRead(t, cred))
	requirePerm(t, cred, 0o600)
	entries, err := os.ReadDir(filepath.Dir(cred))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestInviteRefusals(t *testing.T) {
	fdir, fdid := founder(t, "acme")
	fedJSON := mustRead(t, filepath.Join(fdir, "federation.json"))
	lone, _ := newMember(t, "lone") // an identity, no federation
	outsider, odid := newMember(t, "outsider")
	require.NoError(t, os.WriteFile(filepath.Join(outsider, "federation.json"), fedJSON, 0o600))
	_, m2did := newMember(t, "m2")
	noID := t.TempDir()

	// A member of another federation with a valid credential of its own.
	otherDir, _ := founder(t, "other")
	stranger, sdid := newMember(t, "stranger")
	require.NoError(t, os.WriteFile(filepath.Join(stranger, "federation.json"), fedJSON, 0o600))
	otherCred := filepath.Join(t.TempDir(), "c.json")
	_, errOut, code := runCLI(t, "", "invite", "--data-dir", otherDir, "--did", sdid, "--out", otherCred)
	require.Equal(t, 0, code, errOut)
	require.NoError(t, os.WriteFile(filepath.Join(stranger, "membership.json"), mustRead(t, otherCred), 0o600))

	// A member holding someone else's credential.
	thief, tdid := newMember(t, "thief")
	require.NoError(t, os.WriteFile(filepath.Join(thief, "federation.json"), fedJSON, 0o600))
	m2cred := filepath.Join(t.TempDir(), "m2.json")
	_, errOut, code = runCLI(t, "", "invite", "--data-dir", fdir, "--did", m2did, "--out", m2cred)
	require.Equal(t, 0, code, errOut)
	require.NoError(t, os.WriteFile(filepath.Join(thief, "membership.json"), mustRead(t, m2cred), 0o600))

	outDir := t.TempDir()
	out := filepath.Join(outDir, "c.json")
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole stderr line after "lattice: ", or a prefix ending in "..."
	}{
		{"no federation", []string{"--data-dir", lone, "--did", m2did},
			lone + " belongs to no federation (no " + filepath.Join(lone, "federation.json") + "): found one with 'lattice federation init --name NAME --data-dir " + lone + "', or be invited to one"},
		{"no identity", []string{"--data-dir", noID, "--did", m2did},
			noID + " has no identity (no " + identity.KeyPath(noID) + "); create one with 'lattice did create --data-dir " + noID + "'"},
		{"not founder, no membership", []string{"--data-dir", outsider, "--did", m2did},
			odid + " may not invite: it is not the founder of federation acme (" + fdid + ") and holds no membership credential (no " + filepath.Join(outsider, "membership.json") + ")"},
		{"membership of another federation", []string{"--data-dir", stranger, "--did", m2did},
			sdid + " may not invite: its membership credential " + filepath.Join(stranger, "membership.json") + " is not valid: membership credential for another federation: ..."},
		{"someone else's membership", []string{"--data-dir", thief, "--did", m2did},
			tdid + " may not invite: its membership credential " + filepath.Join(thief, "membership.json") + " was issued to " + m2did + ", not to it"},
		{"bad --did", []string{"--data-dir", fdir, "--did", "did:web:example.com"},
			`invalid --did: unsupported: DID method "web" ("did:web:example.com"): only did:key is supported; run 'lattice invite --help' for usage`},
		{"self --did", []string{"--data-dir", fdir, "--did", fdid},
			"invalid --did: " + fdid + " is this member's own DID; a member cannot invite itself; run 'lattice invite --help' for usage"},
		{"bad --roles", []string{"--data-dir", fdir, "--did", m2did, "--roles", "ops,Admin"},
			`invalid --roles: malformed input: name "Admin": want lower-case letters, digits and '-', starting and ending with a letter or digit; run 'lattice invite --help' for usage`},
		{"bad --valid-for", []string{"--data-dir", fdir, "--did", m2did, "--valid-for", "-1h"},
			"--valid-for must be at least 1s, not -1h0m0s; run 'lattice invite --help' for usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, errOut, code := runCLI(t, "", append(append([]string{"invite"}, tc.args...), "--out", out)...)
			require.Equal(t, 1, code)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
			if p, ok := strings.CutSuffix(tc.want, "..."); ok {
				require.True(t, strings.HasPrefix(errOut, "lattice: "+p), errOut)
			} else {
				require.Equal(t, "lattice: "+tc.want+"\n", errOut)
			}
		})
	}
	entries, err := os.ReadDir(outDir)
	require.NoError(t, err)
	require.Empty(t, entries, "failed invites must not write anything")
}

func TestVCVerifyRefusals(t *testing.T) {
	fdir, _ := founder(t, "acme")
	_, m2did := newMember(t, "m2")
	dir := t.TempDir()
	cred := filepath.Join(dir, "m2.json")
	_, errOut, code := runCLI(t, "", "invite", "--data-dir", fdir, "--did", m2did, "--out", cred)
	require.Equal(t, 0, code, errOut)
	good := mustRead(t, cred)

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	tampered := write("tampered.json", []byte(strings.Replace(string(good), `"acme"`, `"acmf"`, 1)))
	require.NotEqual(t, good, mustRead(t, tampered))
	malformed := write("malformed.json", []byte(`{"hello":`))
	id, err := identity.Load(fdir)
	require.NoError(t, err)
	old := time.Now().Add(-48 * time.Hour)
	expiredRaw, err := identity.IssueMembership(id, "acme", m2did, nil, time.Hour, old)
	require.NoError(t, err)
	expired := write("expired.json", expiredRaw)
	big := write("big.json", []byte(strings.Repeat(" ", identity.MaxCredentialSize+10)))

	for _, tc := range []struct {
		name, file, reason string
	}{
		{"tampered", tampered, "signature verification failed: "},
		{"expired", expired, "credential expired: "},
		{"malformed", malformed, "malformed input: "},
		{"too large", big, "input too large: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", "vc", "verify", tc.file)
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.True(t, strings.HasPrefix(errOut, "lattice: "+tc.file+": invalid credential: "+tc.reason), errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		})
	}

	missing := filepath.Join(dir, "missing.json")
	out, errOut, code := runCLI(t, "", "vc", "verify", missing)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Equal(t, "lattice: open "+missing+": no such file or directory\n", errOut)

	_, errOut, code = runCLI(t, "", "vc", "verify")
	require.Equal(t, 1, code)
	require.Equal(t, "lattice: accepts 1 arg(s), received 0; run 'lattice vc verify --help' for usage\n", errOut)
}

func TestFederationInitRefusals(t *testing.T) {
	// A bad name creates nothing, not even the identity.
	parent := t.TempDir()
	dir := filepath.Join(parent, "m")
	for _, name := range []string{"Acme", "-acme", "ac_me", strings.Repeat("a", 64)} {
		out, errOut, code := runCLI(t, "", "federation", "init", "--name", name, "--data-dir", dir)
		require.Equal(t, 1, code)
		require.Empty(t, out)
		require.True(t, strings.HasPrefix(errOut, "lattice: invalid --name: malformed input: name "), errOut)
		require.True(t, strings.HasSuffix(errOut, "; run 'lattice federation init --help' for usage\n"), errOut)
	}
	_, errOut, code := runCLI(t, "", "federation", "init", "--data-dir", dir)
	require.Equal(t, 1, code)
	require.Equal(t, "lattice: required flag(s) \"name\" not set; run 'lattice federation init --help' for usage\n", errOut)
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Empty(t, entries)

	// An existing identity is kept and becomes the founder.
	mdir, mdid := newMember(t, "m")
	out, errOut, code := runCLI(t, "", "federation", "init", "--name", "acme", "--data-dir", mdir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "federation acme founded by "+mdid+"\n", out)

	// Another name for the same directory is refused; the file is kept.
	before := mustRead(t, filepath.Join(mdir, "federation.json"))
	out, errOut, code = runCLI(t, "", "federation", "init", "--name", "other", "--data-dir", mdir)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Equal(t, "lattice: "+mdir+" already belongs to federation acme ("+filepath.Join(mdir, "federation.json")+"); a data directory belongs to one federation only, use another one to found other\n", errOut)
	require.Equal(t, before, mustRead(t, filepath.Join(mdir, "federation.json")))

	// The same name in a member's directory (founded by someone else) is
	// not founding it.
	odir, odid := newMember(t, "o")
	require.NoError(t, os.WriteFile(filepath.Join(odir, "federation.json"), before, 0o600))
	_, errOut, code = runCLI(t, "", "federation", "init", "--name", "acme", "--data-dir", odir)
	require.Equal(t, 1, code)
	require.Equal(t, "lattice: "+odir+" already belongs to federation acme, founded by "+mdid+", not by this member ("+odid+")\n", errOut)

	// A damaged federation file is reported, not replaced.
	require.NoError(t, os.WriteFile(filepath.Join(odir, "federation.json"), []byte(`{"name":"acme","extra":1}`), 0o600))
	_, errOut, code = runCLI(t, "", "federation", "init", "--name", "acme", "--data-dir", odir)
	require.Equal(t, 1, code)
	require.True(t, strings.HasPrefix(errOut, "lattice: "+filepath.Join(odir, "federation.json")+" is damaged: "), errOut)
}
