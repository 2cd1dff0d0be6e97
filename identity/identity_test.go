package identity

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := Generate()
	require.NoError(t, err)
	return id
}

func TestGenerate(t *testing.T) {
	id := newIdentity(t)
	require.True(t, strings.HasPrefix(id.DID(), "did:key:z6Mk"), id.DID())
	require.Len(t, id.DID(), 56)
	require.Equal(t, id.DID()+"#"+strings.TrimPrefix(id.DID(), "did:key:"), id.KeyID())

	pub, err := PublicKeyFromDID(id.DID())
	require.NoError(t, err)
	require.Equal(t, id.PublicKey(), pub)
	did, err := DIDFromPublicKey(pub)
	require.NoError(t, err)
	require.Equal(t, id.DID(), did)

	sig, err := id.Sign([]byte("payload"))
	require.NoError(t, err)
	require.True(t, ed25519.Verify(id.PublicKey(), []byte("payload"), sig))

	// Accessors return copies.
	id.PublicKey()[0] ^= 0xff
	require.Equal(t, pub, id.PublicKey())

	require.NotEqual(t, id.DID(), newIdentity(t).DID())
}

// TestCryptoSigner makes a self-signed TLS certificate with the identity's
// key, as the QUIC transport will.
func TestCryptoSigner(t *testing.T) {
	id := newIdentity(t)
	signer := id.CryptoSigner()
	require.Equal(t, id.PublicKey(), signer.Public())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: id.DID()},
		NotBefore:    t0, NotAfter: t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.NoError(t, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature))
	did, err := DIDFromPublicKey(cert.PublicKey.(ed25519.PublicKey))
	require.NoError(t, err)
	require.Equal(t, id.DID(), did)

	sig, err := signer.Sign(nil, []byte("m"), crypto.Hash(0))
	require.NoError(t, err)
	require.True(t, ed25519.Verify(id.PublicKey(), []byte("m"), sig))
	_, err = signer.Sign(nil, []byte("m"), crypto.SHA256)
	require.Error(t, err, "Ed25519 signs messages, not digests")
	require.NotContains(t, fmt.Sprintf("%v %+v %#v", signer, signer, signer), fmt.Sprintf("%x", id.priv.key.Seed()))
}

func TestSignerIsDeterministic(t *testing.T) {
	id := newIdentity(t)
	sig, _ := id.Sign([]byte("payload"))
	sig2, _ := id.Sign([]byte("payload"))
	require.Equal(t, sig, sig2)

}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "member")
	id := newIdentity(t)
	require.NoError(t, id.Save(dir))

	fi, err := os.Stat(KeyPath(dir))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Join(dir, KeyDir))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), di.Mode().Perm())
	entries, err := os.ReadDir(filepath.Join(dir, KeyDir))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file may remain")

	data, err := os.ReadFile(KeyPath(dir))
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	require.Equal(t, "PRIVATE KEY", block.Type)

	loaded, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, id.DID(), loaded.DID())
	require.Equal(t, id.priv.key, loaded.priv.key)
	msg := []byte("hello")
	s1, _ := id.Sign(msg)
	s2, _ := loaded.Sign(msg)
	require.Equal(t, s1, s2)
}

func TestSaveRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	first := newIdentity(t)
	require.NoError(t, first.Save(dir))
	err := newIdentity(t).Save(dir)
	require.ErrorIs(t, err, ErrIdentityExists)
	require.Contains(t, err.Error(), KeyPath(dir))

	loaded, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, first.DID(), loaded.DID(), "the first key must survive")

	require.Error(t, first.Save(""))
}

func TestLoadKeyFilePermissions(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o640, false},
		{0o644, false},
		{0o604, false},
		{0o660, false},
		{0o666, false},
		{0o602, false},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			dir := t.TempDir()
			id := newIdentity(t)
			require.NoError(t, id.Save(dir))
			require.NoError(t, os.Chmod(KeyPath(dir), tc.mode))
			loaded, err := Load(dir)
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, id.DID(), loaded.DID())
				return
			}
			require.ErrorIs(t, err, ErrInsecureKeyFile)
			require.Nil(t, loaded)
			require.Contains(t, err.Error(), fmt.Sprintf("mode %04o", tc.mode))
			require.Contains(t, err.Error(), "chmod 600 "+KeyPath(dir))
		})
	}
}

func TestLoadErrors(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	require.NoError(t, err)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	require.NoError(t, err)
	pemOf := func(typ string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}

	for _, tc := range []struct {
		name    string
		content []byte
		want    error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("not a key"), ErrMalformed},
		{"wrong PEM type", pemOf("EC PRIVATE KEY", edDER), ErrMalformed},
		{"not PKCS 8", pemOf("PRIVATE KEY", []byte{1, 2, 3}), ErrMalformed},
		{"trailing data", append(pemOf("PRIVATE KEY", edDER), "junk"...), ErrMalformed},
		{"RSA key", pemOf("PRIVATE KEY", rsaDER), ErrUnsupported},
		{"too large", bytes.Repeat([]byte("A"), maxKeyFileSize+1), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, KeyDir), 0o700))
			require.NoError(t, os.WriteFile(KeyPath(dir), tc.content, 0o600))
			_, err := Load(dir)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), KeyPath(dir))
			if len(tc.content) > 0 {
				require.NotContains(t, err.Error(), string(tc.content[:min(len(tc.content), 40)]))
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, KeyDir), 0o700))
		require.NoError(t, os.WriteFile(KeyPath(dir), pemOf("PRIVATE KEY", edDER), 0o600))
		id, err := Load(dir)
		require.NoError(t, err)
		require.Equal(t, []byte(edKey), []byte(id.priv.key))
	})

	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Load(dir)
		require.ErrorIs(t, err, ErrNoIdentity)
		require.ErrorIs(t, err, fs.ErrNotExist)
	})

	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(KeyPath(dir), 0o700))
		_, err := Load(dir)
		require.ErrorIs(t, err, ErrMalformed)
	})
}

// TestKeyNeverPrinted prints an identity every way a program might and
// checks that the private key (in any common encoding) never appears.
func TestKeyNeverPrinted(t *testing.T) {
	id := newIdentity(t)
	priv := id.priv.key
	seed := priv.Seed()
	secrets := []string{
		string(priv), string(seed),
		fmt.Sprintf("%x", seed), fmt.Sprintf("%X", seed), fmt.Sprint([]byte(seed)),
		fmt.Sprintf("%d", seed[0:4]),
	}
	holder := struct {
		Name string
		ID   *Identity
		Val  Identity
	}{"h", id, *id}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, id), fmt.Sprintf(verb, *id), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, id.priv), fmt.Sprintf(verb, *id.priv))
	}
	outputs = append(outputs, fmt.Sprint(id), id.String(), id.GoString())
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("identity", "id", id, "val", *id, "holder", holder, "key", id.priv)
		outputs = append(outputs, buf.String())
	}
	j, err := json.Marshal(holder)
	require.NoError(t, err)
	outputs = append(outputs, string(j))

	for _, out := range outputs {
		for _, s := range secrets {
			require.NotContains(t, out, s)
		}
	}
	require.Equal(t, id.DID(), fmt.Sprint(id))
	require.Equal(t, id.DID(), fmt.Sprintf("%d", id))
	require.Contains(t, fmt.Sprintf("%#v", id), id.DID())
}
