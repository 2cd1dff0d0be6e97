package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

var t0 = crdt.MakeTimestamp(1_700_000_000_000, 0)

func newID(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	require.NoError(t, err)
	return id
}

func payload(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d}`, i)) }

// feedOf appends n entries to a fresh feed of id.
func feedOf(t testing.TB, id identity.Signer, n int) []*Entry {
	t.Helper()
	f := NewFeed(id)
	out := make([]*Entry, n)
	for i := range out {
		e, err := f.Append(TypeCredential, payload(i), t0+crdt.Timestamp(i))
		require.NoError(t, err)
		out[i] = e
	}
	return out
}

// snapshot captures everything a rejection must leave alone.
type snapshot struct {
	Head        uint64
	Hash        [32]byte
	Pending     int
	Misbehaving bool
	Applied     uint64
	Entries     [][]byte
}

func snap(t *testing.T, l *Ledger, author string) snapshot {
	t.Helper()
	s := snapshot{Pending: l.Pending(author), Misbehaving: l.Misbehaving(author), Applied: l.Stats().Applied}
	s.Head, s.Hash = l.Head(author)
	for _, e := range l.Entries(author) {
		b, err := EncodeEntry(e)
		require.NoError(t, err)
		s.Entries = append(s.Entries, b)
	}
	return s
}

func applyAll(t *testing.T, l *Ledger, es ...*Entry) {
	t.Helper()
	for _, e := range es {
		_, err := l.Apply(e)
		require.NoError(t, err)
	}
}

func TestFeedChainsAndSigns(t *testing.T) {
	id := newID(t)
	es := feedOf(t, id, 5)
	var prev [32]byte
	for i, e := range es {
		require.Equal(t, uint64(i+1), e.Seq)
		require.Equal(t, id.DID(), e.Author)
		require.Equal(t, prev, e.Prev)
		_, h, err := e.Verify()
		require.NoError(t, err)
		prev = h
	}
	l := New()
	applyAll(t, l, es...)
	seq, h := l.Head(id.DID())
	require.Equal(t, uint64(5), seq)
	require.Equal(t, prev, h)

	// Restore continues the chain.
	f, err := RestoreFeed(id, es[4])
	require.NoError(t, err)
	e6, err := f.Append(TypeRevocation, []byte(`{"id":"x"}`), t0) // earlier time is clamped
	require.NoError(t, err)
	require.Equal(t, uint64(6), e6.Seq)
	require.Equal(t, es[4].Time, e6.Time)
	res, err := l.Apply(e6)
	require.NoError(t, err)
	require.Len(t, res.Applied, 1)

	// Restoring from another author's entry fails.
	_, err = RestoreFeed(newID(t), es[4])
	require.ErrorIs(t, err, ErrMalformed)
	// The feed refuses unknown types and oversized payloads without advancing.
	_, err = f.Append("bogus", payload(0), t0)
	require.ErrorIs(t, err, ErrUnknownType)
	_, err = f.Append(TypeContract, bytes.Repeat([]byte(" "), MaxPayloadSize+1), t0)
	require.ErrorIs(t, err, ErrTooLarge)
	seq, _ = f.Head()
	require.Equal(t, uint64(6), seq)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	es := feedOf(t, newID(t), 2)
	for _, e := range es {
		b, err := EncodeEntry(e)
		require.NoError(t, err)
		d, err := DecodeEntry(b)
		require.NoError(t, err)
		require.Equal(t, e, d)
		h1, _ := e.Hash()
		h2, _ := d.Hash()
		require.Equal(t, h1, h2)
	}
	b, _ := EncodeEntry(es[0])
	_, err := DecodeEntry(append(b, 0))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = DecodeEntry(b[:len(b)-1])
	require.ErrorIs(t, err, ErrMalformed)
	_, err = DecodeEntry(make([]byte, MaxEntrySize+1))
	require.ErrorIs(t, err, ErrTooLarge)
}

// TestRejections: each rejection reports its error, is counted, and leaves
// the ledger exactly as it was.
func TestRejections(t *testing.T) {
	alice, mallory := newID(t), newID(t)
	base := feedOf(t, alice, 4)
	resign := func(e *Entry, s identity.Signer) *Entry {
		c := e.Clone()
		msg, err := c.SigningBytes()
		require.NoError(t, err)
		c.Sig, err = s.Sign(msg)
		require.NoError(t, err)
		return c
	}
	tests := []struct {
		name   string
		entry  func() *Entry
		err    error
		reason string
	}{
		{"forged signature", func() *Entry {
			c := base[2].Clone()
			c.Sig = bytes.Repeat([]byte{0x42}, 64)
			return c
		}, ErrBadSignature, ReasonBadSignature},
		{"wrong key", func() *Entry { return resign(base[2], mallory) }, ErrBadSignature, ReasonBadSignature},
		{"tampered payload", func() *Entry {
			c := base[2].Clone()
			c.Payload = []byte(`{"n":999}`)
			return c
		}, ErrBadSignature, ReasonBadSignature},
		{"tampered time", func() *Entry {
			c := base[2].Clone()
			c.Time++
			return c
		}, ErrBadSignature, ReasonBadSignature},
		{"replayed entry", func() *Entry { return base[0].Clone() }, ErrDuplicate, ReasonDuplicate},
		{"replayed head", func() *Entry { return base[1] }, ErrDuplicate, ReasonDuplicate},
		{"oversized entry", func() *Entry {
			c := base[2].Clone()
			c.Payload = []byte(`"` + string(bytes.Repeat([]byte("a"), MaxPayloadSize)) + `"`)
			return resign(c, alice)
		}, ErrTooLarge, ReasonTooLarge},
		{"unknown type", func() *Entry {
			c := base[2].Clone()
			c.Type = "membership"
			return resign(c, alice)
		}, ErrUnknownType, ReasonUnknownType},
		{"payload not JSON", func() *Entry {
			c := base[2].Clone()
			c.Payload = []byte(`{`)
			return resign(c, alice)
		}, ErrMalformed, ReasonMalformed},
		{"not a did:key author", func() *Entry {
			c := base[2].Clone()
			c.Author = "did:web:example.com"
			return c
		}, ErrMalformed, ReasonMalformed},
		{"wrong prev", func() *Entry {
			c := base[2].Clone()
			c.Prev[0] ^= 1
			return resign(c, alice)
		}, ErrBadChain, ReasonBadChain},
		{"time goes backwards", func() *Entry {
			c := base[2].Clone()
			c.Time = 0
			return resign(c, alice)
		}, ErrBadChain, ReasonBadChain},
		{"nil", func() *Entry { return nil }, ErrMalformed, ReasonMalformed},
		{"too far ahead", func() *Entry {
			c := base[2].Clone()
			c.Seq = MaxPendingPerAuthor + 10
			return resign(c, alice)
		}, ErrPendingFull, ReasonPendingFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			applyAll(t, l, base[:2]...)
			before := snap(t, l, alice.DID())
			res, err := l.Apply(tc.entry())
			require.ErrorIs(t, err, tc.err)
			require.Empty(t, res.Applied)
			require.Nil(t, res.Proof)
			require.False(t, res.Pending)
			require.Equal(t, before, snap(t, l, alice.DID()))
			require.Equal(t, uint64(1), l.Stats().Rejected[tc.reason])
			// The genuine entry is still accepted afterwards.
			res, err = l.Apply(base[2])
			require.NoError(t, err)
			require.Len(t, res.Applied, 1)
		})
	}
}

func TestGapHeldThenFilled(t *testing.T) {
	id := newID(t)
	es := feedOf(t, id, 5)
	l := New()
	applyAll(t, l, es[0])
	before := snap(t, l, id.DID())

	for _, e := range []*Entry{es[3], es[2], es[4]} {
		res, err := l.Apply(e)
		require.ErrorIs(t, err, ErrGap)
		require.True(t, res.Pending)
		require.Empty(t, res.Applied)
	}
	after := snap(t, l, id.DID())
	require.Equal(t, 3, after.Pending)
	after.Pending = before.Pending
	require.Equal(t, before, after, "held entries are not visible")
	require.Equal(t, uint64(3), l.Stats().Rejected[ReasonGap])

	// Replaying a held entry is a duplicate.
	_, err := l.Apply(es[3])
	require.ErrorIs(t, err, ErrDuplicate)

	// Filling the gap applies everything held, in order.
	res, err := l.Apply(es[1])
	require.NoError(t, err)
	require.Equal(t, es[1:], res.Applied)
	seq, _ := l.Head(id.DID())
	require.Equal(t, uint64(5), seq)
	require.Zero(t, l.Pending(id.DID()))
	require.Equal(t, uint64(5), l.Stats().Applied)
}

func TestHeldEntryWithBadChainDropped(t *testing.T) {
	id := newID(t)
	es := feedOf(t, id, 2)
	// A validly signed seq 3 whose prev is not es[1]'s hash.
	bad := &Entry{Author: id.DID(), Seq: 3, Prev: [32]byte{1}, Time: t0 + 5, Type: TypeContract, Payload: payload(7)}
	require.NoError(t, bad.Sign(id))
	l := New()
	applyAll(t, l, es[0])
	_, err := l.Apply(bad)
	require.ErrorIs(t, err, ErrGap)
	res, err := l.Apply(es[1])
	require.NoError(t, err)
	require.Equal(t, es[1:2], res.Applied)
	require.Zero(t, l.Pending(id.DID()))
	require.Equal(t, uint64(1), l.Stats().Rejected[ReasonBadChain])
}

// fork returns an honest feed of 3 entries and a second, different entry 2.
func fork(t *testing.T, id *identity.Identity) ([]*Entry, *Entry) {
	es := feedOf(t, id, 3)
	alt := &Entry{Author: id.DID(), Seq: 2, Prev: es[1].Prev, Time: es[1].Time, Type: TypeRevocation, Payload: []byte(`{"fork":true}`)}
	require.NoError(t, alt.Sign(id))
	return es, alt
}

func TestEquivocationDetectedOnEveryReplica(t *testing.T) {
	id := newID(t)
	es, alt := fork(t, id)
	orders := [][]*Entry{
		{es[0], es[1], es[2], alt},        // fork arrives after the honest branch
		{alt, es[0], es[1], es[2]},        // fork held, applied, then the honest seq 2 arrives
		{es[2], es[1], alt, es[0]},        // both seq 2 held: detected in the pending set
		{es[0], alt, es[2], es[1], es[0]}, // fork first, honest seq 3 fails its chain
	}
	var proofs []*EquivocationProof
	for i, order := range orders {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			l := New()
			var found *EquivocationProof
			for _, e := range order {
				before := snap(t, l, id.DID())
				res, err := l.Apply(e)
				if errors.Is(err, ErrEquivocation) {
					require.Nil(t, found, "one proof per fork")
					require.NotNil(t, res.Proof)
					require.Empty(t, res.Applied)
					found = res.Proof
					after := snap(t, l, id.DID())
					require.True(t, after.Misbehaving)
					after.Misbehaving = false
					require.Equal(t, before, after, "equivocation changes nothing but the mark")
				}
			}
			require.NotNil(t, found)
			require.NoError(t, VerifyProof(found))
			require.True(t, l.Misbehaving(id.DID()))
			require.Equal(t, uint64(1), l.Stats().Rejected[ReasonEquivocation])
			proofs = append(proofs, found)
		})
	}
	require.Len(t, proofs, len(orders))
	for _, p := range proofs[1:] {
		require.Equal(t, proofs[0], p, "every replica derives the same proof")
	}

	// The proof survives the store mapping and marks the author elsewhere.
	obj, err := ProofObject(proofs[0])
	require.NoError(t, err)
	p, err := ProofFromObject(obj)
	require.NoError(t, err)
	require.Equal(t, proofs[0], p)
	other := New()
	applyAll(t, other, es[0])
	require.False(t, other.Misbehaving(id.DID()))
	marked, err := other.ApplyProof(p)
	require.NoError(t, err)
	require.True(t, marked)
	require.True(t, other.Misbehaving(id.DID()))
	marked, err = other.ApplyProof(p)
	require.NoError(t, err)
	require.False(t, marked)
	require.False(t, other.Misbehaving(newID(t).DID()))
}

func TestInvalidProofs(t *testing.T) {
	alice, bob := newID(t), newID(t)
	es, alt := fork(t, alice)
	good := newProof(es[1], alt, mustHash(t, es[1]), mustHash(t, alt))
	require.NoError(t, VerifyProof(good))
	bobs := feedOf(t, bob, 2)
	tampered := alt.Clone()
	tampered.Payload = []byte(`{"fork":false}`)

	tests := []struct {
		name  string
		proof *EquivocationProof
	}{
		{"nil", nil},
		{"missing entry", &EquivocationProof{Author: alice.DID(), Seq: 2, A: es[1]}},
		{"identical entries", &EquivocationProof{Author: alice.DID(), Seq: 2, A: es[1], B: es[1].Clone()}},
		{"different authors", &EquivocationProof{Author: alice.DID(), Seq: 2, A: es[1], B: bobs[1]}},
		{"different authors, proof about bob", &EquivocationProof{Author: bob.DID(), Seq: 2, A: es[1], B: bobs[1]}},
		{"different seqs", &EquivocationProof{Author: alice.DID(), Seq: 2, A: es[1], B: es[2]}},
		{"wrong seq claimed", &EquivocationProof{Author: alice.DID(), Seq: 3, A: good.A, B: good.B}},
		{"wrong author claimed", &EquivocationProof{Author: bob.DID(), Seq: 2, A: good.A, B: good.B}},
		{"forged entry", &EquivocationProof{Author: alice.DID(), Seq: 2, A: es[1], B: tampered}},
		{"not in canonical order", &EquivocationProof{Author: alice.DID(), Seq: 2, A: good.B, B: good.A}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, VerifyProof(tc.proof), ErrInvalidProof)
			l := New()
			applyAll(t, l, es[0])
			before := snap(t, l, alice.DID())
			beforeBob := snap(t, l, bob.DID())
			marked, err := l.ApplyProof(tc.proof)
			require.ErrorIs(t, err, ErrInvalidProof)
			require.False(t, marked)
			require.Equal(t, before, snap(t, l, alice.DID()))
			require.Equal(t, beforeBob, snap(t, l, bob.DID()))
			require.Equal(t, uint64(1), l.Stats().Rejected[ReasonInvalidProof])
			require.Empty(t, l.Authors()[1:])
		})
	}
}

func mustHash(t *testing.T, e *Entry) [32]byte {
	h, err := e.Hash()
	require.NoError(t, err)
	return h
}

func TestStoreMapping(t *testing.T) {
	id := newID(t)
	es := feedOf(t, id, 2)
	k, err := EntryKey(id.DID(), 2)
	require.NoError(t, err)
	require.NoError(t, k.Validate())
	g, kind, ns, name := k.Parts()
	require.Equal(t, LedgerGroup, g)
	require.Equal(t, EntryKind, kind)
	require.NotContains(t, ns, ":")
	require.Equal(t, "00000000000000000002", name)
	pk, err := ProofKey(id.DID(), 2)
	require.NoError(t, err)
	require.NotEqual(t, k, pk)
	prefix, err := EntryPrefix(id.DID())
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix([]byte(k), []byte(prefix)))

	for _, bad := range []struct {
		did string
		seq uint64
	}{{"did:web:x", 1}, {"", 1}, {id.DID(), 0}, {"did:key:z/../x", 1}} {
		_, err := EntryKey(bad.did, bad.seq)
		require.ErrorIs(t, err, ErrMalformed)
	}

	obj, err := EntryObject(es[1])
	require.NoError(t, err)
	_, err = crdt.ParseObject(k, obj, crdt.DefaultLimits())
	require.NoError(t, err)
	e, err := EntryFromObject(obj)
	require.NoError(t, err)
	require.Equal(t, es[1], e)

	// Readable copies that disagree with the signed entry are refused.
	var m map[string]any
	require.NoError(t, json.Unmarshal(obj, &m))
	m["seq"] = 7
	bad, _ := json.Marshal(m)
	_, err = EntryFromObject(bad)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = EntryFromObject([]byte(`{"apiVersion":"x"}`))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = EntryFromObject(append(obj, '}'))
	require.ErrorIs(t, err, ErrMalformed)
}

// TestStoreGrowOnly writes a feed through a real crdt.Store with Create and
// applies what a replica reads back.
func TestStoreGrowOnly(t *testing.T) {
	id := newID(t)
	es := feedOf(t, id, 3)
	st, err := crdt.OpenStore(crdt.DefaultStoreConfig(t.TempDir(), "r1"))
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	for _, e := range es {
		k, err := EntryKey(e.Author, e.Seq)
		require.NoError(t, err)
		obj, err := EntryObject(e)
		require.NoError(t, err)
		_, err = st.Create(ctx, k, obj)
		require.NoError(t, err)
		_, err = st.Create(ctx, k, obj)
		require.ErrorIs(t, err, crdt.ErrAlreadyExists, "entries are written once")
	}
	l := New()
	for _, e := range es {
		k, _ := EntryKey(e.Author, e.Seq)
		o, err := st.Get(k)
		require.NoError(t, err)
		got, err := EntryFromObject(o.Value)
		require.NoError(t, err)
		_, err = l.Apply(got)
		require.NoError(t, err)
	}
	seq, h := l.Head(id.DID())
	require.Equal(t, uint64(3), seq)
	require.Equal(t, mustHash(t, es[2]), h)
}
