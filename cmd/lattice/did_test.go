package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/identity"
)

var didKeyRE = regexp.MustCompile(`^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$`)

func TestDIDCreateShowResolve(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "member-1")

	out, errOut, code := runCLI(t, "", "did", "create", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	did := strings.TrimSuffix(out, "\n")
	require.Regexp(t, didKeyRE, did)
	require.Equal(t, did+"\n", out, "one line")

	fi, err := os.Stat(identity.KeyPath(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	key, err := os.ReadFile(identity.KeyPath(dir))
	require.NoError(t, err)

	out, errOut, code = runCLI(t, "", "did", "show", "--data-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	first, docJSON, ok := strings.Cut(out, "\n")
	require.True(t, ok)
	require.Equal(t, did, first)
	var doc identity.DIDDocument
	require.NoError(t, json.Unmarshal([]byte(docJSON), &doc))
	require.Equal(t, did, doc.ID)
	require.NoError(t, doc.Validate())
	require.NotContains(t, out, "PRIVATE KEY")

	out, errOut, code = runCLI(t, "", "did", "resolve", did)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.JSONEq(t, docJSON, out)

	// A second create refuses and leaves the key alone.
	out, errOut, code = runCLI(t, "", "did", "create", "--data-dir", dir)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Equal(t, "lattice: "+dir+" already holds an identity ("+identity.KeyPath(dir)+"), which is never replaced; 'lattice did show --data-dir "+dir+"' prints it\n", errOut)
	after, err := os.ReadFile(identity.KeyPath(dir))
	require.NoError(t, err)
	require.Equal(t, key, after)
}

func TestDIDResolveKnownDID(t *testing.T) {
	const did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	out, errOut, code := runCLI(t, "", "did", "resolve", did)
	require.Equal(t, 0, code, errOut)
	kid := did + "#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	require.JSONEq(t, `{
  "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/ed25519-2020/v1"],
  "id": "`+did+`",
  "verificationMethod": [{
    "id": "`+kid+`",
    "type": "Ed25519VerificationKey2020",
    "controller": "`+did+`",
    "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
  }],
  "authentication": ["`+kid+`"],
  "assertionMethod": ["`+kid+`"]
}`, out)
}

func TestDIDCommandErrors(t *testing.T) {
	empty := t.TempDir()
	insecure := t.TempDir()
	_, _, code := runCLI(t, "", "did", "create", "--data-dir", insecure)
	require.Equal(t, 0, code)
	require.NoError(t, os.Chmod(identity.KeyPath(insecure), 0o644))
	keyPath := identity.KeyPath(insecure)

	for _, tc := range []struct {
		name string
		args []string
		want string // the whole stderr line after "lattice: "
	}{
		{"resolve: not a DID", []string{"did", "resolve", "hello"},
			`cannot resolve DID: malformed input: "hello" is not a DID: a DID starts with "did:"`},
		{"resolve: other method", []string{"did", "resolve", "did:web:example.com"},
			`cannot resolve DID: unsupported: DID method "web" ("did:web:example.com"): only did:key is supported`},
		{"resolve: DID URL", []string{"did", "resolve", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#x"},
			`cannot resolve DID: malformed input: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#x" is a DID URL (it has '#'), not a DID`},
		{"resolve: P-256 key", []string{"did", "resolve", "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"},
			`cannot resolve DID: unsupported: did:key "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169" holds a P-256 key: only Ed25519 keys are supported`},
		{"resolve: too long", []string{"did", "resolve", "did:key:z" + strings.Repeat("a", 300)},
			`cannot resolve DID: input too large: DID is 309 bytes, max 256`},
		{"resolve: control characters", []string{"did", "resolve", "did:key:\nz6Mk"},
			`cannot resolve DID: malformed input: did:key "did:key:\nz6Mk": the identifier must be base58btc multibase, starting with 'z'`},
		{"resolve: no argument", []string{"did", "resolve"},
			`accepts 1 arg(s), received 0; run 'lattice did resolve --help' for usage`},
		{"resolve: two arguments", []string{"did", "resolve", "a", "b"},
			`accepts 1 arg(s), received 2; run 'lattice did resolve --help' for usage`},
		{"show: no identity", []string{"did", "show", "--data-dir", empty},
			empty + " has no identity (no " + identity.KeyPath(empty) + "); create one with 'lattice did create --data-dir " + empty + "'"},
		{"show: insecure key file", []string{"did", "show", "--data-dir", insecure},
			"key file permissions too open: " + keyPath + " has mode 0644, so users other than its owner may access the private key; run 'chmod 600 " + keyPath + "' if no one else has read it, otherwise create a new identity"},
		{"show: no flag", []string{"did", "show"},
			`required flag(s) "data-dir" not set; run 'lattice did show --help' for usage`},
		{"show: empty flag", []string{"did", "show", "--data-dir", ""},
			`--data-dir must not be empty; run 'lattice did show --help' for usage`},
		{"create: no flag", []string{"did", "create"},
			`required flag(s) "data-dir" not set; run 'lattice did create --help' for usage`},
		{"create: empty flag", []string{"did", "create", "--data-dir", ""},
			`--data-dir must not be empty; run 'lattice did create --help' for usage`},
		{"create: extra argument", []string{"did", "create", "--data-dir", empty, "x"},
			`unknown command "x" for "lattice did create"; run 'lattice did create --help' for usage`},
		{"did: unknown subcommand", []string{"did", "frob"},
			`unknown command "frob" for "lattice did"; run 'lattice did --help' for usage`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", tc.args...)
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.Equal(t, "lattice: "+tc.want+"\n", errOut)
		})
	}
	entries, err := os.ReadDir(empty)
	require.NoError(t, err)
	require.Empty(t, entries, "failed commands must not create anything")
}

func TestDIDCreateUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o500))
	t.Cleanup(func() { os.Chmod(parent, 0o700) })
	out, errOut, code := runCLI(t, "", "did", "create", "--data-dir", filepath.Join(parent, "m"))
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "permission denied")
	require.Equal(t, 1, strings.Count(errOut, "\n"))
}

func TestDIDHelp(t *testing.T) {
	out, errOut, code := runCLI(t, "", "did")
	require.Equal(t, 0, code, errOut)
	for _, sub := range []string{"create", "show", "resolve"} {
		require.Contains(t, out, sub)
	}
	out, _, code = runCLI(t, "", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "did")
}
