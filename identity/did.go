package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"

	"github.com/mr-tron/base58"

	ariesdid "github.com/hyperledger/aries-framework-go/pkg/doc/did"
	"github.com/hyperledger/aries-framework-go/pkg/vdr/key"
)

// MaxDIDSize is the largest DID (or DID URL, such as a JWS key ID) accepted
// as input, in bytes. An Ed25519 did:key is 56 bytes; the limit leaves room
// for other key types so that they are reported as unsupported, not as too
// large.
const MaxDIDSize = 256

// Names used in DID documents.
const (
	// VerificationKeyType is the type of the verification method of a
	// did:key DID document (its key is in publicKeyMultibase).
	VerificationKeyType = "Ed25519VerificationKey2020"

	didContext     = "https://www.w3.org/ns/did/v1"
	ed25519Context = "https://w3id.org/security/suites/ed25519-2020/v1"
)

// ed25519Multicodec is the multicodec prefix of an Ed25519 public key
// (0xed as an unsigned varint).
var ed25519Multicodec = []byte{0xed, 0x01}

// multicodecNames names the key types did:key may hold besides Ed25519, for
// error messages.
var multicodecNames = map[uint64]string{
	0xe7:   "secp256k1",
	0xe8:   "BLS12-381 G1",
	0xeb:   "BLS12-381 G2",
	0xec:   "X25519",
	0xee:   "BLS12-381 G1G2",
	0x1200: "P-256",
	0x1201: "P-384",
	0x1202: "P-521",
	0x1205: "RSA",
}

// DIDDocument is the DID document of a did:key identity: everything a
// verifier needs to know about the DID, derived from the DID itself. It is
// what 'lattice did show' and 'lattice did resolve' print and what a member
// publishes in the replicated store.
type DIDDocument struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	// Authentication and AssertionMethod list the verification methods (by
	// ID) that may authenticate the DID's controller and issue credentials.
	Authentication  []string `json:"authentication"`
	AssertionMethod []string `json:"assertionMethod"`
}

// VerificationMethod is a public key of a DID document.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// Validate checks that d is exactly the document of its ID, a did:key DID
// with an Ed25519 key, as Resolve returns it. A document read from the
// replicated store is validated before it is trusted.
func (d *DIDDocument) Validate() error {
	if d == nil {
		return malformed("no DID document")
	}
	_, msid, err := parseDIDKey(d.ID)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(d, newDIDDocument(d.ID, msid)) {
		return malformed("DID document of %s does not match its DID", d.ID)
	}
	return nil
}

func newDIDDocument(did, msid string) *DIDDocument {
	keyID := did + "#" + msid
	return &DIDDocument{
		Context: []string{didContext, ed25519Context},
		ID:      did,
		VerificationMethod: []VerificationMethod{{
			ID:                 keyID,
			Type:               VerificationKeyType,
			Controller:         did,
			PublicKeyMultibase: msid,
		}},
		Authentication:  []string{keyID},
		AssertionMethod: []string{keyID},
	}
}

// DIDFromPublicKey returns the did:key DID of an Ed25519 public key.
func DIDFromPublicKey(pub ed25519.PublicKey) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", malformed("Ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return "did:key:" + fingerprint(pub), nil
}

// fingerprint returns the did:key method-specific identifier of pub:
// base58btc multibase of the multicodec-prefixed key.
func fingerprint(pub ed25519.PublicKey) string {
	b := make([]byte, 0, len(ed25519Multicodec)+len(pub))
	b = append(append(b, ed25519Multicodec...), pub...)
	return "z" + base58.Encode(b)
}

// PublicKeyFromDID returns the Ed25519 public key a did:key DID encodes. It
// is the cheap part of Resolve (no document is built); it rejects exactly
// what Resolve rejects except keys that are not points on the curve, which
// no signature verifies with.
func PublicKeyFromDID(did string) (ed25519.PublicKey, error) {
	pub, _, err := parseDIDKey(did)
	return pub, err
}

// KeyID returns the ID of the verification method of a did:key DID,
// DID#fingerprint: the JWS "kid" and the credential proof's
// verificationMethod.
func KeyID(did string) (string, error) {
	_, msid, err := parseDIDKey(did)
	if err != nil {
		return "", err
	}
	return did + "#" + msid, nil
}

// parseDIDKey validates did as a did:key DID holding an Ed25519 key, in
// canonical form, and returns the key and the method-specific identifier.
func parseDIDKey(did string) (ed25519.PublicKey, string, error) {
	if len(did) > MaxDIDSize {
		return nil, "", tooLarge("DID", len(did), MaxDIDSize)
	}
	if did == "" {
		return nil, "", malformed("empty DID")
	}
	rest, ok := strings.CutPrefix(did, "did:")
	if !ok {
		return nil, "", malformed("%q is not a DID: a DID starts with \"did:\"", did)
	}
	method, msid, ok := strings.Cut(rest, ":")
	if !ok || method == "" || msid == "" {
		return nil, "", malformed("DID %q: want did:METHOD:IDENTIFIER", did)
	}
	for _, c := range method {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return nil, "", malformed("DID %q: the method name may hold only lower-case letters and digits", did)
		}
	}
	if method != "key" {
		return nil, "", unsupported("DID method %q (%q): only did:key is supported", method, did)
	}
	if i := strings.IndexAny(msid, "#?/:"); i >= 0 {
		return nil, "", malformed("%q is a DID URL (it has %q), not a DID", did, msid[i])
	}
	if msid[0] != 'z' {
		return nil, "", malformed("did:key %q: the identifier must be base58btc multibase, starting with 'z'", did)
	}
	raw, err := base58.Decode(msid[1:])
	if err != nil || len(raw) == 0 {
		return nil, "", malformed("did:key %q: the identifier is not valid base58", did)
	}
	code, n := binary.Uvarint(raw)
	if n <= 0 {
		return nil, "", malformed("did:key %q: the key type (multicodec) is not a valid varint", did)
	}
	if code != 0xed {
		name, ok := multicodecNames[code]
		if !ok {
			name = fmt.Sprintf("unknown type (multicodec 0x%x)", code)
		}
		return nil, "", unsupported("did:key %q holds a %s key: only Ed25519 keys are supported", did, name)
	}
	if !bytes.HasPrefix(raw, ed25519Multicodec) || len(raw) != len(ed25519Multicodec)+ed25519.PublicKeySize {
		return nil, "", malformed("did:key %q: an Ed25519 key is %d bytes after the multicodec prefix, got %d", did, ed25519.PublicKeySize, len(raw)-n)
	}
	pub := ed25519.PublicKey(raw[len(ed25519Multicodec):])
	if fingerprint(pub) != msid {
		return nil, "", malformed("did:key %q is not in canonical form", did)
	}
	return pub, msid, nil
}

// Resolve resolves a did:key DID with an Ed25519 key to its public key and
// DID document. It needs no network: a did:key DID is its key. It rejects
// input larger than MaxDIDSize (ErrTooLarge), other DID methods and key
// types (ErrUnsupported), and malformed DIDs, DID URLs and keys that are not
// valid Ed25519 points (ErrMalformed).
func Resolve(did string) (ed25519.PublicKey, *DIDDocument, error) {
	pub, msid, err := parseDIDKey(did)
	if err != nil {
		return nil, nil, err
	}
	// The aries did:key resolver also checks that the key is a point on the
	// curve (it derives the X25519 key agreement key from it).
	res, err := ariesResolve(did)
	if err != nil {
		return nil, nil, malformed("did:key %q: %v", did, err)
	}
	keyID := did + "#" + msid
	var found bool
	for _, vm := range res.DIDDocument.VerificationMethod {
		if vm.ID == keyID {
			if vm.Type != "Ed25519VerificationKey2018" || !bytes.Equal(vm.Value, pub) {
				return nil, nil, malformed("did:key %q: resolver returned an unexpected key", did)
			}
			found = true
		}
	}
	if !found {
		return nil, nil, malformed("did:key %q: resolver returned no verification method %s", did, keyID)
	}
	return pub, newDIDDocument(did, msid), nil
}

func ariesResolve(did string) (res *ariesdid.DocResolution, err error) {
	defer recovered(&err, "did:key resolver")
	return key.New().Read(did)
}
