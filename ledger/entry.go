package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// Entry types.
const (
	TypeDIDRegistration = "did-registration"
	TypeCredential      = "credential"
	TypeRevocation      = "revocation"
	TypeContract        = "contract"
)

// Size limits.
const (
	// MaxPayloadSize bounds an entry's JSON payload.
	MaxPayloadSize = 64 << 10
	// MaxEntrySize bounds an entry's canonical encoding.
	MaxEntrySize = 70 << 10
)

// signContext separates entry signatures from anything else the key signs.
const signContext = "lattice.ledger.entry.v1"

// Errors. Every rejection wraps exactly one of them.
var (
	// ErrMalformed: not a well-formed entry (encoding, author DID, seq,
	// payload JSON, field lengths).
	ErrMalformed = errors.New("malformed entry")
	// ErrTooLarge: the payload or the encoding exceeds its size limit.
	ErrTooLarge = errors.New("entry too large")
	// ErrUnknownType: the entry type is not one this package knows.
	ErrUnknownType = errors.New("unknown entry type")
	// ErrBadSignature: the signature does not verify with the author's key.
	ErrBadSignature = errors.New("entry signature verification failed")
	// ErrGap: the entry's seq is beyond the author's head + 1.
	ErrGap = errors.New("gap in the feed")
	// ErrDuplicate: the entry is already known.
	ErrDuplicate = errors.New("duplicate entry")
	// ErrEquivocation: the author signed another entry with the same seq.
	ErrEquivocation = errors.New("equivocation")
	// ErrBadChain: the entry does not continue the author's chain (prev
	// hash, seq 1 with a prev, decreasing time).
	ErrBadChain = errors.New("entry does not continue the feed")
	// ErrPendingFull: an early entry cannot be held, the pending set is full
	// or the entry is too far ahead.
	ErrPendingFull = errors.New("pending set full")
	// ErrInvalidProof: an equivocation proof does not prove equivocation.
	ErrInvalidProof = errors.New("invalid equivocation proof")
)

// Entry is one signed, hash-chained entry of a member's feed. Treat entries
// as immutable once signed.
type Entry struct {
	Author  string // did:key DID of the feed's writer
	Seq     uint64 // position in the feed, from 1
	Prev    [32]byte
	Time    crdt.Timestamp
	Type    string
	Payload []byte // JSON
	Sig     []byte // Ed25519 over SigningBytes
}

// KnownType reports whether t is an entry type of this package.
func KnownType(t string) bool {
	switch t {
	case TypeDIDRegistration, TypeCredential, TypeRevocation, TypeContract:
		return true
	}
	return false
}

func (e *Entry) encode(withSig bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(e.Payload) + len(e.Author) + 160)
	enc := msgpack.NewEncoder(&buf)
	n := 7
	if withSig {
		n = 8
	}
	err := errors.Join(
		enc.EncodeArrayLen(n),
		enc.EncodeString(signContext),
		enc.EncodeString(e.Author),
		enc.EncodeUint(e.Seq),
		enc.EncodeBytes(e.Prev[:]),
		enc.EncodeUint(uint64(e.Time)),
		enc.EncodeString(e.Type),
		enc.EncodeBytes(e.Payload),
	)
	if withSig {
		err = errors.Join(err, enc.EncodeBytes(e.Sig))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return buf.Bytes(), nil
}

// SigningBytes returns the bytes the author signs: the canonical encoding
// without Sig.
func (e *Entry) SigningBytes() ([]byte, error) { return e.encode(false) }

// EncodeEntry returns the canonical encoding of a signed entry. It checks
// the shape and sizes, not the signature.
func EncodeEntry(e *Entry) ([]byte, error) {
	if err := e.checkShape(); err != nil {
		return nil, err
	}
	b, err := e.encode(true)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: entry is %d bytes, max %d", ErrTooLarge, len(b), MaxEntrySize)
	}
	return b, nil
}

// Hash returns the SHA-256 of the entry's canonical encoding, signature
// included: the value the next entry's Prev holds.
func (e *Entry) Hash() ([32]byte, error) {
	b, err := EncodeEntry(e)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// checkShape checks everything but the signature and the chain.
func (e *Entry) checkShape() error {
	if e == nil {
		return fmt.Errorf("%w: nil entry", ErrMalformed)
	}
	if len(e.Payload) > MaxPayloadSize {
		return fmt.Errorf("%w: payload is %d bytes, max %d", ErrTooLarge, len(e.Payload), MaxPayloadSize)
	}
	if len(e.Author) > identity.MaxDIDSize {
		return fmt.Errorf("%w: author is %d bytes, max %d", ErrTooLarge, len(e.Author), identity.MaxDIDSize)
	}
	if !KnownType(e.Type) {
		if len(e.Type) > 64 {
			return fmt.Errorf("%w: %d-byte type", ErrUnknownType, len(e.Type))
		}
		return fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	if e.Seq == 0 {
		return fmt.Errorf("%w: seq 0 (feeds start at 1)", ErrMalformed)
	}
	if e.Seq == 1 && e.Prev != ([32]byte{}) {
		return fmt.Errorf("%w: seq 1 with a non-zero prev", ErrBadChain)
	}
	if len(e.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(e.Sig), ed25519.SignatureSize)
	}
	if !json.Valid(e.Payload) {
		return fmt.Errorf("%w: payload is not valid JSON", ErrMalformed)
	}
	return nil
}

// Verify checks an entry on its own: shape, sizes, type and the author's
// signature. It returns the canonical encoding and hash. Chain continuity is
// Ledger's job.
func (e *Entry) Verify() (encoded []byte, hash [32]byte, err error) {
	encoded, err = EncodeEntry(e)
	if err != nil {
		return nil, [32]byte{}, err
	}
	pub, err := identity.PublicKeyFromDID(e.Author)
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("%w: author: %v", ErrMalformed, err)
	}
	msg, err := e.SigningBytes()
	if err != nil {
		return nil, [32]byte{}, err
	}
	if !ed25519.Verify(pub, msg, e.Sig) {
		return nil, [32]byte{}, fmt.Errorf("%w: %s seq %d", ErrBadSignature, e.Author, e.Seq)
	}
	return encoded, sha256.Sum256(encoded), nil
}

// Sign fills e.Sig with signer's signature. The signer must be the author.
func (e *Entry) Sign(signer identity.Signer) error {
	if signer.DID() != e.Author {
		return fmt.Errorf("%w: signer %s is not the author %s", ErrMalformed, signer.DID(), e.Author)
	}
	msg, err := e.SigningBytes()
	if err != nil {
		return err
	}
	sig, err := signer.Sign(msg)
	if err != nil {
		return fmt.Errorf("ledger: sign entry: %w", err)
	}
	e.Sig = sig
	return nil
}

// Clone returns a deep copy.
func (e *Entry) Clone() *Entry {
	c := *e
	c.Payload = bytes.Clone(e.Payload)
	c.Sig = bytes.Clone(e.Sig)
	return &c
}

// DecodeEntry decodes a canonical encoding. It bounds the input before
// decoding, accepts only the canonical form and never panics. It does not
// check the signature (see Entry.Verify and Ledger.Apply).
func DecodeEntry(b []byte) (e *Entry, err error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: entry is %d bytes, max %d", ErrTooLarge, len(b), MaxEntrySize)
	}
	// A hand-written reader over the fixed layout: lengths are checked
	// against the input before any slicing, so a forged length never
	// allocates.
	r := reader{b: b}
	if r.byte() != 0x98 {
		return nil, fmt.Errorf("%w: not an array of 8 fields", ErrMalformed)
	}
	var out Entry
	if ctx := r.str(); r.err == nil && ctx != signContext {
		return nil, fmt.Errorf("%w: not a ledger entry (context %q)", ErrMalformed, ctx)
	}
	out.Author = r.str()
	out.Seq = r.uint()
	prev := r.bin()
	t := r.uint()
	out.Type = r.str()
	out.Payload = r.bin()
	out.Sig = r.bin()
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if len(prev) != len(out.Prev) {
		return nil, fmt.Errorf("%w: prev is %d bytes, want 32", ErrMalformed, len(prev))
	}
	copy(out.Prev[:], prev)
	out.Time = crdt.Timestamp(t)
	re, err := EncodeEntry(&out)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(re, b) {
		return nil, fmt.Errorf("%w: not the canonical encoding", ErrMalformed)
	}
	return &out, nil
}

// reader decodes the msgpack subset entries use. The first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errors.New("truncated input")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) be(n uint64) uint64 {
	var x uint64
	for _, c := range r.take(n) {
		x = x<<8 | uint64(c)
	}
	return x
}

func (r *reader) uint() uint64 {
	c := r.byte()
	switch {
	case r.err != nil:
		return 0
	case c <= 0x7f:
		return uint64(c)
	case c >= 0xcc && c <= 0xcf:
		return r.be(1 << (c - 0xcc))
	}
	r.err = fmt.Errorf("want an unsigned integer, got type 0x%02x", c)
	return 0
}

func (r *reader) str() string {
	c := r.byte()
	var n uint64
	switch {
	case r.err != nil:
		return ""
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c >= 0xd9 && c <= 0xdb:
		n = r.be(1 << (c - 0xd9))
	default:
		r.err = fmt.Errorf("want a string, got type 0x%02x", c)
		return ""
	}
	return string(r.take(n))
}

func (r *reader) bin() []byte {
	c := r.byte()
	if r.err != nil {
		return nil
	}
	if c < 0xc4 || c > 0xc6 {
		r.err = fmt.Errorf("want binary, got type 0x%02x", c)
		return nil
	}
	v := r.take(r.be(1 << (c - 0xc4)))
	if v == nil {
		return nil
	}
	return bytes.Clone(v)
}
