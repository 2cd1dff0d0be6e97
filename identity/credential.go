package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger/aries-framework-go/component/storageutil/mem"
	ariesld "github.com/hyperledger/aries-framework-go/pkg/doc/ld"
	"github.com/hyperledger/aries-framework-go/pkg/doc/ldcontext"
	ldproc "github.com/hyperledger/aries-framework-go/pkg/doc/signature/jsonld"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/suite/ed25519signature2018"
	"github.com/hyperledger/aries-framework-go/pkg/doc/signature/verifier"
	"github.com/hyperledger/aries-framework-go/pkg/doc/util"
	"github.com/hyperledger/aries-framework-go/pkg/doc/verifiable"
	ldstore "github.com/hyperledger/aries-framework-go/pkg/store/ld"
	jsonld "github.com/piprate/json-gold/ld"
)

// Limits on credentials. They bound the work a verifier does for untrusted
// input, before any signature is checked: JSON-LD canonicalization is
// expensive, and worst-case exponential in the number of blank nodes, which
// nested claim objects create.
const (
	// MaxCredentialSize is the largest credential accepted, in bytes.
	MaxCredentialSize = 64 << 10
	// MaxClaimDepth is how deep objects may nest in claims: a claim
	// holding an object holding an object is depth 2.
	MaxClaimDepth = 4
	// MaxClaimObjects is how many objects the claims may hold in all,
	// nested or in arrays.
	MaxClaimObjects = 16
	// MaxClaimValues is how many values (leaves) the claims may hold.
	MaxClaimValues = 256
	// MaxCredentialTypes is how many types a credential may have.
	MaxCredentialTypes = 8

	maxNameLen = 64
)

// JSON-LD vocabulary of the credentials issued here.
const (
	// CredentialsContext is the W3C Verifiable Credentials v1 context.
	CredentialsContext = "https://www.w3.org/2018/credentials/v1"
	// LatticeContext is the JSON-LD context of Lattice credentials, the
	// second @context of every credential issued here. It maps every term
	// the W3C context does not define into the Lattice vocabulary (@vocab),
	// so that every claim is covered by the signature: JSON-LD drops
	// undefined terms before canonicalization, and a Linked Data signature
	// over a document with undefined terms would not protect them. The
	// context ships with the binary; it is never fetched.
	LatticeContext = "https://lattice.dev/ns/credentials/v1"
	// LatticeVocabulary is the IRI prefix of Lattice terms.
	LatticeVocabulary = "https://lattice.dev/ns/credentials#"

	// CredentialType is the type every credential has.
	CredentialType = "VerifiableCredential"
	// ProofType is the only proof type issued and accepted.
	ProofType = "Ed25519Signature2018"

	proofPurpose = "assertionMethod"
)

// latticeContextDocument is the content of LatticeContext.
var latticeContextDocument = `{
  "@context": {
    "@version": 1.1,
    "@protected": true,
    "@vocab": "` + LatticeVocabulary + `",
    "` + MembershipCredentialType + `": "` + LatticeVocabulary + MembershipCredentialType + `",
    "federation": "` + LatticeVocabulary + `federation",
    "roles": "` + LatticeVocabulary + `roles"
  }
}`

// reservedNames are terms the W3C credentials context defines at the top
// level (or that JSON-LD treats specially); claims and types may not use
// them, so that a claim can never change how the rest of the credential is
// interpreted.
var reservedNames = map[string]bool{
	"id": true, "type": true, "proof": true,
	CredentialType: true, "VerifiablePresentation": true,
	"EcdsaSecp256k1Signature2019": true, "EcdsaSecp256r1Signature2019": true,
	"Ed25519Signature2018": true, "RsaSignature2018": true,
}

// Credential is a verified credential.
type Credential struct {
	// ID is the credential's unique ID, "urn:uuid:..."; revocations name it.
	ID string
	// Types are the credential's types, CredentialType first.
	Types []string
	// Issuer is the DID that issued and signed the credential.
	Issuer string
	// Subject is the DID the credential is about.
	Subject string
	// Claims are what the issuer says about the subject, as JSON values
	// (string, float64, bool, []any, map[string]any).
	//
	// The signature covers the claims' RDF meaning, not their JSON form: an
	// array is a set, so its order is not protected (duplicates are refused)
	// and a one-element array means the same as its element. Issue arrays
	// whose order does not matter, or encode order in the values.
	Claims map[string]any
	// IssuedAt is when the credential becomes valid (issuanceDate).
	IssuedAt time.Time
	// ExpiresAt is when the credential stops being valid (expirationDate);
	// zero if it does not expire.
	ExpiresAt time.Time
}

// HasType reports whether the credential has type t.
func (c *Credential) HasType(t string) bool { return slices.Contains(c.Types, t) }

// ValidAt checks that the credential is valid at t: IssuedAt <= t <
// ExpiresAt (ErrNotYetValid, ErrExpired).
func (c *Credential) ValidAt(t time.Time) error {
	if t.Before(c.IssuedAt) {
		return fmt.Errorf("%w: credential %s is valid from %s, checked at %s", ErrNotYetValid, c.ID, c.IssuedAt.Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	if !c.ExpiresAt.IsZero() && !t.Before(c.ExpiresAt) {
		return fmt.Errorf("%w: credential %s expired at %s, checked at %s", ErrExpired, c.ID, c.ExpiresAt.Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	return nil
}

// Verifier verifies credentials. It holds the offline JSON-LD document
// loader (the W3C contexts aries embeds, and LatticeContext): verifying
// never touches the network, and a credential naming any other context is
// refused. A Verifier is safe for concurrent use; create one and share it.
type Verifier struct {
	loader *contextCache
}

// contextCache keeps the contexts the store-backed aries loader returns,
// parsed: that loader decodes a context's JSON on every load, several times
// per credential. Only contexts the store holds are cached (a fixed set);
// the JSON-LD processor only reads them.
type contextCache struct {
	next *ariesld.DocumentLoader
	mu   sync.RWMutex
	docs map[string]*jsonld.RemoteDocument
}

func (c *contextCache) LoadDocument(u string) (*jsonld.RemoteDocument, error) {
	c.mu.RLock()
	d, ok := c.docs[u]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	d, err := c.next.LoadDocument(u)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.docs[u] = d
	c.mu.Unlock()
	return d, nil
}

// ldProvider provides the in-memory stores of the JSON-LD document loader.
type ldProvider struct {
	contexts ldstore.ContextStore
	remotes  ldstore.RemoteProviderStore
}

func (p *ldProvider) JSONLDContextStore() ldstore.ContextStore               { return p.contexts }
func (p *ldProvider) JSONLDRemoteProviderStore() ldstore.RemoteProviderStore { return p.remotes }

// NewVerifier returns a verifier with its own offline JSON-LD document
// loader.
func NewVerifier() (*Verifier, error) {
	storage := mem.NewProvider()
	contexts, err := ldstore.NewContextStore(storage)
	if err != nil {
		return nil, fmt.Errorf("JSON-LD context store: %w", err)
	}
	remotes, err := ldstore.NewRemoteProviderStore(storage)
	if err != nil {
		return nil, fmt.Errorf("JSON-LD context store: %w", err)
	}
	loader, err := ariesld.NewDocumentLoader(&ldProvider{contexts: contexts, remotes: remotes},
		ariesld.WithExtraContexts(ldcontext.Document{
			URL:         LatticeContext,
			DocumentURL: LatticeContext,
			Content:     json.RawMessage(latticeContextDocument),
		}))
	if err != nil {
		return nil, fmt.Errorf("JSON-LD document loader: %w", err)
	}
	return &Verifier{loader: &contextCache{next: loader, docs: map[string]*jsonld.RemoteDocument{}}}, nil
}

// defaultVerifier is the verifier of the package-level functions.
var defaultVerifier = sync.OnceValues(NewVerifier)

// VerifyCredential verifies a credential with a shared Verifier; see
// Verifier.VerifyCredential.
func VerifyCredential(raw []byte, now time.Time) (*Credential, error) {
	v, err := defaultVerifier()
	if err != nil {
		return nil, err
	}
	return v.VerifyCredential(raw, now)
}

// IssueCredential issues a credential, signed by issuer, saying claims about
// subjectDID, valid from validFrom until validUntil (zero: no expiry); both
// are kept to the second. It has type CredentialType and types. It returns
// the credential as JSON (JSON-LD with an Ed25519Signature2018 proof),
// verified before it is returned.
//
// Claim names start with a letter and hold letters, digits, '_' and '-'
// (at most 64 bytes); "id", "type" and "proof" are reserved. Values are
// JSON values other than null, within MaxClaimDepth, MaxClaimObjects and
// MaxClaimValues; arrays are sets (see Credential.Claims) and may not hold
// arrays. Types follow the rules of claim names.
func IssueCredential(issuer Signer, subjectDID string, claims map[string]any, types []string, validFrom, validUntil time.Time) ([]byte, error) {
	v, err := defaultVerifier()
	if err != nil {
		return nil, err
	}
	return v.issue(issuer, subjectDID, claims, types, validFrom, validUntil)
}

func (v *Verifier) issue(issuer Signer, subjectDID string, claims map[string]any, types []string, validFrom, validUntil time.Time) (raw []byte, err error) {
	issuerDID := issuer.DID()
	vm, err := KeyID(issuerDID)
	if err != nil {
		return nil, fmt.Errorf("issue credential: issuer: %w", err)
	}
	if _, err := PublicKeyFromDID(subjectDID); err != nil {
		return nil, fmt.Errorf("issue credential: subject: %w", err)
	}
	allTypes := []string{CredentialType}
	for _, t := range types {
		if t == CredentialType || slices.Contains(allTypes, t) {
			continue
		}
		if err := checkName(t, "credential type"); err != nil {
			return nil, fmt.Errorf("issue credential: %w", err)
		}
		allTypes = append(allTypes, t)
	}
	if len(allTypes) > MaxCredentialTypes {
		return nil, fmt.Errorf("issue credential: %d types, max %d", len(allTypes), MaxCredentialTypes)
	}
	// Normalize the claims to what a verifier will read (JSON values).
	subject := map[string]any{}
	if len(claims) > 0 {
		b, err := json.Marshal(claims)
		if err != nil {
			return nil, fmt.Errorf("issue credential: claims: %w", err)
		}
		if err := json.Unmarshal(b, &subject); err != nil {
			return nil, fmt.Errorf("issue credential: claims: %w", err)
		}
		if err := checkClaims(subject); err != nil {
			return nil, fmt.Errorf("issue credential: %w", err)
		}
	}
	subject["id"] = subjectDID
	if validFrom.IsZero() {
		return nil, errors.New("issue credential: no validity start")
	}
	validFrom = validFrom.UTC().Truncate(time.Second)
	vc := &verifiable.Credential{
		Context: []string{CredentialsContext, LatticeContext},
		ID:      newCredentialID(),
		Types:   allTypes,
		Subject: subject,
		Issuer:  verifiable.Issuer{ID: issuerDID},
		Issued:  util.NewTime(validFrom),
	}
	if !validUntil.IsZero() {
		validUntil = validUntil.UTC().Truncate(time.Second)
		if !validUntil.After(validFrom) {
			return nil, fmt.Errorf("issue credential: validity ends (%s) before it starts (%s)", validUntil.Format(time.RFC3339), validFrom.Format(time.RFC3339))
		}
		vc.Expired = util.NewTime(validUntil)
	}
	defer recovered(&err, "issue credential")
	err = vc.AddLinkedDataProof(&verifiable.LinkedDataProofContext{
		SignatureType:           ProofType,
		Suite:                   ed25519signature2018.New(suite.WithSigner(ldSigner{issuer})),
		SignatureRepresentation: verifiable.SignatureJWS,
		Created:                 &validFrom,
		VerificationMethod:      vm,
		Purpose:                 proofPurpose,
	}, ldproc.WithDocumentLoader(v.loader))
	if err != nil {
		return nil, fmt.Errorf("issue credential: sign: %w", err)
	}
	raw, err = vc.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("issue credential: %w", err)
	}
	if len(raw) > MaxCredentialSize {
		return nil, fmt.Errorf("issue credential: %w", tooLarge("credential", len(raw), MaxCredentialSize))
	}
	// What is handed out must verify: this catches a Signer whose key is
	// not its DID's.
	if _, err := v.verify(raw); err != nil {
		return nil, fmt.Errorf("issue credential: the signed credential does not verify: %w", err)
	}
	return raw, nil
}

// ldSigner adapts a Signer to aries' signature suites.
type ldSigner struct{ s Signer }

func (l ldSigner) Sign(data []byte) ([]byte, error) {
	sig, err := l.s.Sign(data)
	if err == nil && len(sig) != ed25519.SignatureSize {
		err = fmt.Errorf("signer returned a %d-byte signature, want %d", len(sig), ed25519.SignatureSize)
	}
	return sig, err
}

func (ldSigner) Alg() string { return jwsAlg }

// newCredentialID returns a random (version 4) UUID URN.
func newCredentialID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "urn:uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func validCredentialID(id string) bool {
	u, ok := strings.CutPrefix(id, "urn:uuid:")
	if !ok || len(u) != 36 {
		return false
	}
	for i, c := range u {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// VerifyCredential verifies a credential issued by IssueCredential and
// checks that it is valid at now. It rejects input larger than
// MaxCredentialSize (ErrTooLarge); anything but a JSON credential of the
// form IssueCredential makes, e.g. other contexts, unknown fields, claims
// beyond the limits (ErrMalformed); proof types other than
// Ed25519Signature2018 (ErrUnsupported); a proof not made with the issuer's
// key, or a signature that does not verify, e.g. because the credential was
// changed (ErrBadSignature); and credentials not valid at now
// (ErrNotYetValid, ErrExpired).
func (v *Verifier) VerifyCredential(raw []byte, now time.Time) (*Credential, error) {
	c, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	if err := c.ValidAt(now); err != nil {
		return nil, err
	}
	return c, nil
}

// credentialFields are the members a credential may have.
var credentialFields = map[string]bool{
	"@context": true, "id": true, "type": true, "issuer": true, "issuanceDate": true,
	"expirationDate": true, "credentialSubject": true, "proof": true,
}

var proofFields = map[string]bool{
	"type": true, "created": true, "verificationMethod": true, "proofPurpose": true, "jws": true,
}

// verify checks the form and the signature of a credential, not its
// validity period.
func (v *Verifier) verify(raw []byte) (c *Credential, err error) {
	if len(raw) > MaxCredentialSize {
		return nil, tooLarge("credential", len(raw), MaxCredentialSize)
	}
	// Credential, subject, then per claim level an object and an array.
	if err := checkJSON(raw, 2*MaxClaimDepth+4); err != nil {
		return nil, malformed("credential: %v", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, malformed("credential: %v", err)
	}
	for name := range doc {
		if !credentialFields[name] {
			return nil, malformed("credential has unexpected member %s", quoteShort(name))
		}
	}
	c = &Credential{}

	var contexts []string
	if err := json.Unmarshal(doc["@context"], &contexts); err != nil || !slices.Equal(contexts, []string{CredentialsContext, LatticeContext}) {
		return nil, malformed("credential @context must be [%q, %q]", CredentialsContext, LatticeContext)
	}
	if err := json.Unmarshal(doc["id"], &c.ID); err != nil || !validCredentialID(c.ID) {
		return nil, malformed("credential id must be a urn:uuid: URN in lower case")
	}
	if c.Types, err = parseTypes(doc["type"]); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc["issuer"], &c.Issuer); err != nil {
		return nil, malformed("credential issuer must be a DID string")
	}
	issuerKey, err := PublicKeyFromDID(c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("credential issuer: %w", err)
	}
	if c.IssuedAt, err = parseTime(doc, "issuanceDate"); err != nil {
		return nil, err
	}
	if _, ok := doc["expirationDate"]; ok {
		if c.ExpiresAt, err = parseTime(doc, "expirationDate"); err != nil {
			return nil, err
		}
		if !c.ExpiresAt.After(c.IssuedAt) {
			return nil, malformed("credential expires before it is issued")
		}
	}
	if c.Subject, c.Claims, err = parseSubject(doc["credentialSubject"]); err != nil {
		return nil, err
	}
	if err := checkProof(doc["proof"], c.Issuer); err != nil {
		return nil, err
	}

	// The signature: aries canonicalizes the document (URDNA2015, offline
	// contexts) and checks the proof with the issuer's key; with strict
	// JSON-LD validation it also refuses any member that the contexts do
	// not map exactly as it appears.
	keyID := c.Issuer + "#" + fingerprint(issuerKey)
	sv := &sigCheck{pub: issuerKey}
	fetch := func(did, fragment string) (*verifier.PublicKey, error) {
		if did+fragment != keyID {
			return nil, fmt.Errorf("unexpected verification method %s%s", did, fragment)
		}
		return &verifier.PublicKey{Type: "Ed25519VerificationKey2018", Value: issuerKey}, nil
	}
	if err := v.parse(raw, sv, fetch); err != nil {
		if sv.failed {
			return nil, fmt.Errorf("%w: credential %s: the proof does not verify with the key of its issuer %s (the credential was changed or signed by another key)", ErrBadSignature, c.ID, c.Issuer)
		}
		return nil, malformed("credential %s: %v", c.ID, err)
	}
	if !sv.verified {
		return nil, malformed("credential %s: the proof was not checked", c.ID)
	}
	return c, nil
}

func (v *Verifier) parse(raw []byte, sv *sigCheck, fetch verifiable.PublicKeyFetcher) (err error) {
	defer recovered(&err, "credential")
	_, err = verifiable.ParseCredential(raw,
		verifiable.WithPublicKeyFetcher(fetch),
		verifiable.WithEmbeddedSignatureSuites(ed25519signature2018.New(suite.WithVerifier(sv))),
		verifiable.WithJSONLDDocumentLoader(v.loader),
		verifiable.WithNoCustomSchemaCheck(),
		verifiable.WithJSONLDValidation(),
		verifiable.WithStrictValidation(),
	)
	return err
}

// sigCheck verifies Ed25519 signatures for the aries signature suite and
// records the outcome, so that a bad signature is told apart from a
// document aries could not process.
type sigCheck struct {
	pub              ed25519.PublicKey
	verified, failed bool
}

var errSignature = errors.New("ed25519: invalid signature")

func (s *sigCheck) Verify(_ *verifier.PublicKey, msg, sig []byte) error {
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(s.pub, msg, sig) {
		s.failed = true
		return errSignature
	}
	s.verified = true
	return nil
}

func parseTypes(raw json.RawMessage) ([]string, error) {
	var types []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		types = []string{one}
	} else if err := json.Unmarshal(raw, &types); err != nil {
		return nil, malformed("credential type must be a string or an array of strings")
	}
	if len(types) == 0 || types[0] != CredentialType {
		return nil, malformed("credential type must start with %s", CredentialType)
	}
	if len(types) > MaxCredentialTypes {
		return nil, malformed("credential has %d types, max %d", len(types), MaxCredentialTypes)
	}
	for i, t := range types[1:] {
		if err := checkName(t, "credential type"); err != nil {
			return nil, err
		}
		if slices.Contains(types[:i+1], t) {
			return nil, malformed("credential type %s appears twice", quoteShort(t))
		}
	}
	return types, nil
}

func parseTime(doc map[string]json.RawMessage, name string) (time.Time, error) {
	var s string
	if err := json.Unmarshal(doc[name], &s); err != nil {
		return time.Time{}, malformed("credential %s must be an RFC 3339 time string", name)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, malformed("credential %s %s is not an RFC 3339 time", name, quoteShort(s))
	}
	return t.UTC(), nil
}

func parseSubject(raw json.RawMessage) (string, map[string]any, error) {
	var did string
	if err := json.Unmarshal(raw, &did); err == nil {
		_, err := PublicKeyFromDID(did)
		if err != nil {
			return "", nil, fmt.Errorf("credential subject: %w", err)
		}
		return did, map[string]any{}, nil
	}
	var subject map[string]any
	if err := json.Unmarshal(raw, &subject); err != nil || subject == nil {
		return "", nil, malformed("credentialSubject must be an object or a DID string")
	}
	did, ok := subject["id"].(string)
	if !ok {
		return "", nil, malformed("credentialSubject has no id")
	}
	if _, err := PublicKeyFromDID(did); err != nil {
		return "", nil, fmt.Errorf("credential subject: %w", err)
	}
	delete(subject, "id")
	if err := checkClaims(subject); err != nil {
		return "", nil, fmt.Errorf("credential subject: %w", err)
	}
	return did, subject, nil
}

// checkProof checks the form of the proof of a credential by issuer: one
// Ed25519Signature2018 proof for assertions, by the issuer's key, with a
// detached JWS.
func checkProof(raw json.RawMessage, issuer string) error {
	if len(raw) == 0 {
		return malformed("credential has no proof")
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return malformed("credential proof must be one object")
	}
	var typ string
	if err := json.Unmarshal(p["type"], &typ); err != nil {
		return malformed("credential proof has no type")
	}
	if typ != ProofType {
		return unsupported("credential proof type %s: only %s is accepted", quoteShort(typ), ProofType)
	}
	for name := range p {
		if !proofFields[name] {
			return malformed("credential proof has unexpected member %s", quoteShort(name))
		}
	}
	str := func(name string) (string, error) {
		var s string
		if err := json.Unmarshal(p[name], &s); err != nil {
			return "", malformed("credential proof %s must be a string", name)
		}
		return s, nil
	}
	created, err := str("created")
	if err != nil {
		return err
	}
	if _, err := time.Parse(time.RFC3339, created); err != nil {
		return malformed("credential proof created %s is not an RFC 3339 time", quoteShort(created))
	}
	if purpose, err := str("proofPurpose"); err != nil {
		return err
	} else if purpose != proofPurpose {
		return malformed("credential proof purpose %s, want %s", quoteShort(purpose), proofPurpose)
	}
	vm, err := str("verificationMethod")
	if err != nil {
		return err
	}
	want, err := KeyID(issuer)
	if err != nil {
		return err
	}
	if vm != want {
		return fmt.Errorf("%w: credential proof is by %s, not by the issuer's key %s", ErrBadSignature, quoteShort(vm), want)
	}
	jws, err := str("jws")
	if err != nil {
		return err
	}
	return checkDetachedJWS(jws)
}

// checkDetachedJWS checks the form of the detached JWS of an
// Ed25519Signature2018 proof: HEADER..SIGNATURE, with header
// {"alg":"EdDSA","b64":false,"crit":["b64"]}, strictly encoded.
func checkDetachedJWS(jws string) error {
	h, sig, ok := strings.Cut(jws, "..")
	if !ok || strings.Contains(sig, ".") {
		return malformed("credential proof jws must be a detached JWS, HEADER..SIGNATURE")
	}
	hdr, err := b64.DecodeString(h)
	if err != nil {
		return malformed("credential proof jws header is not base64url")
	}
	if err := checkJSON(hdr, 3); err != nil {
		return malformed("credential proof jws header: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(hdr, &fields); err != nil {
		return malformed("credential proof jws header: %v", err)
	}
	if alg, _ := fields["alg"].(string); alg != jwsAlg {
		return unsupported("credential proof jws algorithm %v: only %s is accepted", fields["alg"], jwsAlg)
	}
	crit, _ := fields["crit"].([]any)
	if len(fields) != 3 || fields["b64"] != false || len(crit) != 1 || crit[0] != "b64" {
		return malformed(`credential proof jws header must be {"alg":"EdDSA","b64":false,"crit":["b64"]}`)
	}
	s, err := b64.DecodeString(sig)
	if err != nil {
		return malformed("credential proof jws signature is not base64url")
	}
	if len(s) != ed25519.SignatureSize {
		return malformed("credential proof jws signature is %d bytes, want %d", len(s), ed25519.SignatureSize)
	}
	return nil
}

// checkName checks a claim name or credential type.
func checkName(name, what string) error {
	if name == "" || len(name) > maxNameLen {
		return malformed("%s %s: want 1 to %d bytes", what, quoteShort(name), maxNameLen)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-')
		if !ok {
			return malformed("%s %s: want a letter, then letters, digits, '_' or '-'", what, quoteShort(name))
		}
	}
	if reservedNames[name] {
		return malformed("%s %s is reserved", what, quoteShort(name))
	}
	return nil
}

// checkClaims checks claims (JSON values as encoding/json decodes them)
// against the rules of IssueCredential.
func checkClaims(claims map[string]any) error {
	var objects, values int
	var walk func(v any, depth int, path string) error
	walk = func(v any, depth int, path string) error {
		switch v := v.(type) {
		case nil:
			return malformed("claim %s is null", path)
		case string, bool:
			values++
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return malformed("claim %s is not a finite number", path)
			}
			values++
		case []any:
			seen := make(map[string]bool, len(v))
			for i, e := range v {
				if _, ok := e.([]any); ok {
					return malformed("claim %s[%d]: an array may not hold arrays", path, i)
				}
				// An array is a set to the signature: duplicates would be
				// unprotected.
				enc, err := json.Marshal(e)
				if err != nil {
					return malformed("claim %s[%d]: %v", path, i, err)
				}
				if seen[string(enc)] {
					return malformed("claim %s[%d] repeats an earlier element; arrays are sets", path, i)
				}
				seen[string(enc)] = true
				if err := walk(e, depth, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		case map[string]any:
			if depth > MaxClaimDepth {
				return malformed("claim %s nests deeper than %d", path, MaxClaimDepth)
			}
			if path != "" {
				objects++
				if objects > MaxClaimObjects {
					return malformed("claims hold more than %d objects", MaxClaimObjects)
				}
			}
			for _, k := range sortedKeys(v) {
				if err := checkName(k, "claim name"); err != nil {
					return err
				}
				p := k
				if path != "" {
					p = path + "." + k
				}
				if err := walk(v[k], depth+1, p); err != nil {
					return err
				}
			}
		default:
			return malformed("claim %s has unsupported type %T", path, v)
		}
		if values > MaxClaimValues {
			return malformed("claims hold more than %d values", MaxClaimValues)
		}
		return nil
	}
	return walk(claims, 0, "")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
