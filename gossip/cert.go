package gossip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// A member's TLS certificate is self-signed with its did:key Ed25519 key:
// the key is the identity, so no CA is involved. It carries one private
// extension, the peer claim: the member's replica ID (which its CRDT dots
// and anti-entropy frames name) and the membership credentials it presents
// (its chain towards the founder). The TLS 1.3 handshake proves the peer
// holds the key; the claim is bound to the key by the certificate's
// self-signature.

// claimOID is the extension carrying the peer claim (a private arc).
var claimOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 58888, 1, 1}

const (
	claimVersion = 1
	// maxClaimBytes bounds the extension: a chain of credentials (each at
	// most identity.MaxCredentialSize) is far below it in practice.
	maxClaimBytes = 256 << 10
	// certValidity is how long a certificate is valid; it is renewed well
	// before (certRenewal).
	certValidity = 24 * time.Hour
	certRenewal  = 12 * time.Hour
	// certBackdate absorbs clock skew between members.
	certBackdate = time.Hour
)

// Claim is what a peer's certificate says about it.
type Claim struct {
	Replica     crdt.ReplicaID
	Credentials [][]byte
}

// EncodeClaim encodes a claim for the certificate extension.
func EncodeClaim(c Claim) ([]byte, error) {
	if err := crdt.ValidateReplicaID(c.Replica); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if len(c.Credentials) > identity.MaxPresentedCredentials {
		return nil, fmt.Errorf("claim: %d credentials, max %d", len(c.Credentials), identity.MaxPresentedCredentials)
	}
	b, err := msgpack.Marshal([]any{claimVersion, string(c.Replica), c.Credentials})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if len(b) > maxClaimBytes {
		return nil, fmt.Errorf("claim: %d bytes, max %d", len(b), maxClaimBytes)
	}
	return b, nil
}

// DecodeClaim decodes a certificate's peer claim, refusing anything
// malformed or over the limits before allocating for it.
func DecodeClaim(b []byte) (Claim, error) {
	var c Claim
	if len(b) > maxClaimBytes {
		return c, fmt.Errorf("%w: claim of %d bytes, max %d", ErrBadFrame, len(b), maxClaimBytes)
	}
	rd := bytes.NewReader(b)
	dec := msgpack.NewDecoder(rd)
	n, err := dec.DecodeArrayLen()
	if err != nil || n != 3 {
		return c, fmt.Errorf("%w: claim is not a 3-element array", ErrBadFrame)
	}
	v, err := dec.DecodeUint64()
	if err != nil || v != claimVersion {
		return c, fmt.Errorf("%w: claim version %d not supported (want %d)", ErrBadFrame, v, claimVersion)
	}
	id, err := dec.DecodeString()
	if err != nil {
		return c, fmt.Errorf("%w: claim replica: %v", ErrBadFrame, err)
	}
	c.Replica = crdt.ReplicaID(id)
	if err := crdt.ValidateReplicaID(c.Replica); err != nil {
		return c, fmt.Errorf("%w: claim replica: %v", ErrBadFrame, err)
	}
	n, err = dec.DecodeArrayLen()
	if err != nil || n < -1 || n > identity.MaxPresentedCredentials {
		return c, fmt.Errorf("%w: claim credentials: want an array of at most %d", ErrBadFrame, identity.MaxPresentedCredentials)
	}
	for range max(n, 0) {
		cred, err := dec.DecodeBytes()
		if err != nil {
			return c, fmt.Errorf("%w: claim credential: %v", ErrBadFrame, err)
		}
		if len(cred) > identity.MaxCredentialSize {
			return c, fmt.Errorf("%w: claim credential of %d bytes, max %d", ErrBadFrame, len(cred), identity.MaxCredentialSize)
		}
		c.Credentials = append(c.Credentials, cred)
	}
	if rd.Len() != 0 { // bytes.Reader is read directly, unbuffered
		return c, fmt.Errorf("%w: trailing bytes after claim", ErrBadFrame)
	}
	return c, nil
}

// newCertificate returns a self-signed TLS certificate for id carrying
// claim, valid from now-certBackdate for certValidity.
func newCertificate(id *identity.Identity, claim Claim, now time.Time) (*tls.Certificate, error) {
	ext, err := EncodeClaim(claim)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: string(claim.Replica)},
		NotBefore:       now.Add(-certBackdate),
		NotAfter:        now.Add(certValidity),
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: claimOID, Value: ext}},
		// Self-signed: the certificate is its own issuer.
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer := id.CryptoSigner()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse own certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: leaf}, nil
}

// Peer is an authenticated peer: the DID whose key it proved it holds, and
// the replica ID its certificate claims.
type Peer struct {
	DID     string
	Replica crdt.ReplicaID
}

// errNotAdmitted wraps every refusal by the PeerAuthorizer.
var errNotAdmitted = errors.New("peer not admitted")

// verifyPeerCertificate checks a peer's certificate chain as presented in
// the TLS handshake: one self-signed Ed25519 certificate, valid at now,
// whose claim decodes, and whose key the authorizer admits.
func verifyPeerCertificate(raw [][]byte, auth identity.PeerAuthorizer, now time.Time) (Peer, error) {
	if len(raw) != 1 {
		return Peer{}, fmt.Errorf("peer presented %d certificates, want 1 self-signed", len(raw))
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return Peer{}, fmt.Errorf("peer certificate: %w", err)
	}
	pub, err := publicKeyOf(cert)
	if err != nil {
		return Peer{}, err
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return Peer{}, fmt.Errorf("peer certificate is not self-signed by its key: %w", err)
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return Peer{}, fmt.Errorf("peer certificate valid %s to %s, not at %s", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	var ext []byte
	for _, e := range cert.Extensions {
		if e.Id.Equal(claimOID) {
			if ext != nil {
				return Peer{}, errors.New("peer certificate has two claims")
			}
			ext = e.Value
		}
	}
	if ext == nil {
		return Peer{}, errors.New("peer certificate carries no Lattice claim")
	}
	claim, err := DecodeClaim(ext)
	if err != nil {
		return Peer{}, fmt.Errorf("peer certificate: %w", err)
	}
	did, err := auth.AuthorizePeer(pub, claim.Credentials)
	if err != nil {
		if did == "" {
			return Peer{}, fmt.Errorf("%w: %w", errNotAdmitted, err)
		}
		return Peer{DID: did, Replica: claim.Replica}, fmt.Errorf("%w: %s (%s): %w", errNotAdmitted, did, claim.Replica, err)
	}
	return Peer{DID: did, Replica: claim.Replica}, nil
}

func publicKeyOf(cert *x509.Certificate) (ed25519.PublicKey, error) {
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("peer certificate key is %T, want Ed25519 (a did:key)", cert.PublicKey)
	}
	return pub, nil
}
