package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// Where entries and proofs live in the replicated store.
const (
	LedgerGroup = "ledger.lattice.dev"
	EntryKind   = "Entry"
	ProofKind   = "EquivocationProof"
)

// objectVersion tags the JSON objects this package writes.
const objectVersion = LedgerGroup + "/v1"

// AuthorNamespace returns the key- and filesystem-safe form of a did:key
// DID: ':' replaced by '-' (did:key multibase is base58btc, which has
// neither '-' nor '/', so the mapping is injective).
func AuthorNamespace(did string) (string, error) {
	if _, err := identity.PublicKeyFromDID(did); err != nil {
		return "", fmt.Errorf("%w: author: %v", ErrMalformed, err)
	}
	return strings.ReplaceAll(did, ":", "-"), nil
}

func makeKey(kind, author string, seq uint64) (crdt.Key, error) {
	if seq == 0 {
		return "", fmt.Errorf("%w: seq 0", ErrMalformed)
	}
	ns, err := AuthorNamespace(author)
	if err != nil {
		return "", err
	}
	return crdt.MakeKey(LedgerGroup, kind, ns, fmt.Sprintf("%020d", seq))
}

// EntryKey is the store key of the author's entry at seq.
func EntryKey(author string, seq uint64) (crdt.Key, error) { return makeKey(EntryKind, author, seq) }

// ProofKey is the store key of the equivocation proof for author at seq.
func ProofKey(author string, seq uint64) (crdt.Key, error) { return makeKey(ProofKind, author, seq) }

// EntryPrefix is the store prefix of all entries of author (List/Watch).
func EntryPrefix(author string) (string, error) {
	ns, err := AuthorNamespace(author)
	if err != nil {
		return "", err
	}
	return LedgerGroup + "/" + EntryKind + "/" + ns + "/", nil
}

// entryObject is the stored JSON form of an entry. The canonical encoding
// is authoritative; author and seq are copies for readers and are checked
// against it.
type entryObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Author     string `json:"author"`
	Seq        uint64 `json:"seq"`
	Type       string `json:"type"`
	Entry      []byte `json:"entry"` // canonical encoding, base64
}

type proofObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Author     string `json:"author"`
	Seq        uint64 `json:"seq"`
	A          []byte `json:"a"`
	B          []byte `json:"b"`
}

// EntryObject returns the JSON object to store (once, with
// crdt.Store.Create) under EntryKey(e.Author, e.Seq).
func EntryObject(e *Entry) ([]byte, error) {
	enc, err := EncodeEntry(e)
	if err != nil {
		return nil, err
	}
	return json.Marshal(entryObject{APIVersion: objectVersion, Kind: EntryKind, Author: e.Author, Seq: e.Seq, Type: e.Type, Entry: enc})
}

// maxObjectSize bounds a stored object before it is parsed: base64 of the
// largest entry (or two, for a proof) plus the readable copies.
const maxObjectSize = 2*(MaxEntrySize*4/3+4) + 4096

func strictJSON(b []byte, v any) error {
	if len(b) > maxObjectSize {
		return fmt.Errorf("%w: object is %d bytes, max %d", ErrTooLarge, len(b), maxObjectSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// EntryFromObject decodes a stored entry object. The entry is not verified:
// pass it to Ledger.Apply.
func EntryFromObject(b []byte) (*Entry, error) {
	var o entryObject
	if err := strictJSON(b, &o); err != nil {
		return nil, err
	}
	if o.APIVersion != objectVersion || o.Kind != EntryKind {
		return nil, fmt.Errorf("%w: object is %s %s, want %s %s", ErrMalformed, o.APIVersion, o.Kind, objectVersion, EntryKind)
	}
	e, err := DecodeEntry(o.Entry)
	if err != nil {
		return nil, err
	}
	if e.Author != o.Author || e.Seq != o.Seq || e.Type != o.Type {
		return nil, fmt.Errorf("%w: object fields do not match its entry", ErrMalformed)
	}
	return e, nil
}

// ProofObject returns the JSON object to store under ProofKey(p.Author, p.Seq).
func ProofObject(p *EquivocationProof) ([]byte, error) {
	if p == nil || p.A == nil || p.B == nil {
		return nil, fmt.Errorf("%w: missing entry", ErrInvalidProof)
	}
	a, err := EncodeEntry(p.A)
	if err != nil {
		return nil, err
	}
	b, err := EncodeEntry(p.B)
	if err != nil {
		return nil, err
	}
	return json.Marshal(proofObject{APIVersion: objectVersion, Kind: ProofKind, Author: p.Author, Seq: p.Seq, A: a, B: b})
}

// ProofFromObject decodes a stored proof object. The proof is not verified:
// pass it to Ledger.ApplyProof or VerifyProof.
func ProofFromObject(b []byte) (*EquivocationProof, error) {
	var o proofObject
	if err := strictJSON(b, &o); err != nil {
		return nil, err
	}
	if o.APIVersion != objectVersion || o.Kind != ProofKind {
		return nil, fmt.Errorf("%w: object is %s %s, want %s %s", ErrMalformed, o.APIVersion, o.Kind, objectVersion, ProofKind)
	}
	a, err := DecodeEntry(o.A)
	if err != nil {
		return nil, err
	}
	bb, err := DecodeEntry(o.B)
	if err != nil {
		return nil, err
	}
	return &EquivocationProof{Author: o.Author, Seq: o.Seq, A: a, B: bb}, nil
}
