package identity

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/lattice-federation/lattice/internal/fsutil"
)

// Key file layout inside a data directory.
const (
	// KeyDir is the directory, inside a data directory, holding the key.
	KeyDir = "identity"
	// KeyFile is the name of the private key file inside KeyDir: PEM,
	// "PRIVATE KEY" (PKCS #8), mode 0600.
	KeyFile = "key"

	maxKeyFileSize = 4 << 10
	pemType        = "PRIVATE KEY"
)

// KeyPath returns the path of the key file of data directory dir.
func KeyPath(dir string) string { return filepath.Join(dir, KeyDir, KeyFile) }

// Signer signs payloads as a DID. The signature must be an Ed25519
// signature by the key of DID, a did:key DID. Identity implements it; an
// implementation backed by a KMS or HSM may replace it.
type Signer interface {
	// DID returns the did:key DID whose key signs.
	DID() string
	// Sign returns the Ed25519 signature of payload.
	Sign(payload []byte) ([]byte, error)
}

// Identity is a did:key identity: an Ed25519 key pair and its DID. It is
// safe for concurrent use.
//
// The private key never leaves it except to its key file: it is not
// exported, fmt and log/slog print only the DID, and encoding/json sees no
// fields.
type Identity struct {
	did  string
	msid string
	pub  ed25519.PublicKey
	// priv is behind a pointer so that even a reflection-based print of an
	// Identity value (e.g. %v of a struct holding one) shows an address,
	// never the key.
	priv *secretKey
}

// secretKey holds an Ed25519 private key and prints as "[redacted]".
type secretKey struct{ key ed25519.PrivateKey }

func (secretKey) String() string               { return "[redacted]" }
func (secretKey) GoString() string             { return "[redacted]" }
func (secretKey) Format(f fmt.State, _ rune)   { io.WriteString(f, "[redacted]") }
func (secretKey) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (secretKey) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

var _ Signer = (*Identity)(nil)

// Generate returns a new identity with a random Ed25519 key.
func Generate() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	return fromPrivateKey(priv), nil
}

func fromPrivateKey(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	msid := fingerprint(pub)
	return &Identity{did: "did:key:" + msid, msid: msid, pub: pub, priv: &secretKey{key: priv}}
}

// DID returns the did:key DID of the identity.
func (id *Identity) DID() string { return id.did }

// KeyID returns the ID of the identity's verification method, DID#fingerprint.
func (id *Identity) KeyID() string { return id.did + "#" + id.msid }

// PublicKey returns a copy of the identity's Ed25519 public key.
func (id *Identity) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), id.pub...)
}

// Document returns the identity's DID document.
func (id *Identity) Document() *DIDDocument { return newDIDDocument(id.did, id.msid) }

// Sign returns the Ed25519 signature of payload.
func (id *Identity) Sign(payload []byte) ([]byte, error) {
	return ed25519.Sign(id.priv.key, payload), nil
}

// CryptoSigner returns a crypto.Signer over the identity's key, for TLS
// (tls.Certificate.PrivateKey) and x509 certificates: the QUIC transport
// authenticates peers by their did:key keys. The key itself never leaves
// the Identity.
func (id *Identity) CryptoSigner() crypto.Signer { return cryptoSigner{id} }

type cryptoSigner struct{ id *Identity }

func (s cryptoSigner) Public() crypto.PublicKey { return s.id.PublicKey() }

// Sign signs msg with Ed25519 (opts crypto.Hash(0)) or Ed25519ph/ctx (an
// *ed25519.Options), as ed25519.PrivateKey.Sign does.
func (s cryptoSigner) Sign(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.id.priv.key.Sign(rand, msg, opts)
}

// String returns the DID.
func (id *Identity) String() string { return id.did }

// GoString returns a description naming the DID only.
func (id *Identity) GoString() string { return fmt.Sprintf("identity.Identity{DID: %q}", id.did) }

// Format prints the DID for every verb (%#v: GoString), so that no format
// verb can print the key.
func (id *Identity) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, id.GoString())
		return
	}
	io.WriteString(f, id.did)
}

// LogValue logs the identity as its DID.
func (id *Identity) LogValue() slog.Value { return slog.StringValue(id.did) }

// Save writes the private key to dir/identity/key (see KeyPath) with mode
// 0600, creating dir and dir/identity (mode 0700) as needed. It refuses to
// replace an existing key file (ErrIdentityExists): a member's DID is its
// identity in the federation, and losing the key loses the membership. The
// file appears atomically, complete and synced, or not at all.
func (id *Identity) Save(dir string) error {
	if dir == "" {
		return errors.New("save identity: empty data directory")
	}
	keyDir := filepath.Join(dir, KeyDir)
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	path := KeyPath(dir)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s exists; refusing to overwrite it", ErrIdentityExists, path)
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.priv.key)
	if err != nil {
		return fmt.Errorf("save identity: encode key: %w", err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})
	clear(der)
	defer clear(block)

	// Exclusive: two concurrent Saves cannot replace each other's key.
	if err := fsutil.WriteFile(path, block, 0o600, true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s exists; refusing to overwrite it", ErrIdentityExists, path)
		}
		return fmt.Errorf("save identity: %w", err)
	}
	return nil
}

// Load reads the identity saved in data directory dir by Save. It refuses
// a key file that users other than its owner may read or write
// (ErrInsecureKeyFile); a missing one is ErrNoIdentity (also matching
// fs.ErrNotExist), a damaged one ErrMalformed.
func Load(dir string) (*Identity, error) {
	path := KeyPath(dir)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: %w", ErrNoIdentity, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, malformed("key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o, so users other than its owner may access the private key; run 'chmod 600 %s' if no one else has read it, otherwise create a new identity",
			ErrInsecureKeyFile, path, perm, path)
	}
	if fi.Size() > maxKeyFileSize {
		return nil, malformed("key file %s is %d bytes; a key file is at most %d", path, fi.Size(), maxKeyFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load identity: read %s: %w", path, err)
	}
	defer clear(data)
	priv, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return fromPrivateKey(priv), nil
}

// parseKeyFile decodes a PEM PKCS #8 Ed25519 private key. Errors never
// include the file's content.
func parseKeyFile(data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, malformed("no PEM block")
	}
	if block.Type != pemType {
		return nil, malformed("PEM block is %q, want %q", block.Type, pemType)
	}
	if len(block.Headers) != 0 {
		return nil, malformed("PEM block has headers (an encrypted key is not supported)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, malformed("trailing data after the PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	clear(block.Bytes)
	if err != nil {
		return nil, malformed("not a PKCS #8 private key")
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, unsupported("the key is a %T; only Ed25519 keys are supported", k)
	}
	return priv, nil
}
