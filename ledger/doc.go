// Package ledger keeps each member's append-only, hash-chained, signed feed.
//
// It owns the per-member feeds of DID registrations, credentials, contracts
// and revocations and the equivocation proofs (two signed entries at one
// position of one feed). It knows nothing of placement.
//
// A member running its controller as 3 replicas keeps one feed through
// hashicorp/raft (HAFeed): the replicas share the member's key, only the
// leader appends, every entry is committed through the raft log (stored in
// badger, RaftStore) and applied by FeedFSM, which accepts only entries that
// continue the chain, so a controller failover can never fork the feed or
// lose an acknowledged append. Wiring HAFeed into the running member is
// still to come.
//
// # Entries
//
// An Entry is {Author, Seq, Prev, Time, Type, Payload, Sig}: Author is the
// did:key DID of the member writing the feed, Seq counts from 1, Prev is the
// SHA-256 of the previous entry's canonical encoding (zero for Seq 1), Time is
// an HLC reading that never decreases along a feed, Type is one of
// TypeDIDRegistration, TypeCredential, TypeRevocation, TypeContract and
// Payload is JSON.
//
// The canonical encoding (EncodeEntry) is a msgpack array with a fixed field
// order and the shortest integer, string and binary headers. The author signs
// the same array without Sig (prefixed with a domain separation string), with
// the Ed25519 key of its did:key (identity.Signer); verifiers take the key
// from the DID (identity.PublicKeyFromDID), so no registry is consulted.
// DecodeEntry accepts exactly the canonical form (it re-encodes and compares),
// bounds the input (MaxEntrySize, MaxPayloadSize) before decoding and never
// panics, so an entry has one encoding and one Hash.
//
// # Writing and verifying
//
// Feed is the single writer of one member's feed: Append chains, stamps and
// signs the next entry; RestoreFeed continues from the last entry.
//
// Ledger is the pure, deterministic, in-memory state machine every replica
// runs. Apply makes an entry visible only if it is well-formed and within the
// size limits, of a known type, validly signed by its Author, and continues
// the author's chain (Seq = head+1, Prev = hash of the head, Time not
// decreasing). Otherwise the entry is rejected with an error matching one of
// the Err values, counted per reason (Stats) and the state is left untouched.
// An entry that arrives early (Seq > head+1, within MaxPendingPerAuthor) is
// verified and held (ErrGap) until the gap fills; a replay of a known entry
// is ErrDuplicate.
//
// # Equivocation
//
// Two different, validly signed entries of one author with one Seq are an
// EquivocationProof. Apply returns it (ErrEquivocation) and marks the author
// misbehaving (Misbehaving). A proof is self-contained: anyone can check it
// with VerifyProof, and ApplyProof marks the author on another replica. The
// proof's two entries are ordered by hash, so every replica that detects the
// same fork produces the same proof, stored under ProofKey. A misbehaving
// author's feed stays readable up to what each replica accepted; callers
// decide what the mark means (for example, revoking membership).
//
// # Replication
//
// Feeds replicate through the CRDT store (crdt.Store) as grow-only data: each
// entry is written once with crdt.Store.Create under EntryKey(author, seq)
// (group LedgerGroup, kind EntryKind, namespace the DID with ':' replaced by
// '-', name the zero-padded seq) as the JSON object EntryObject returns, and
// is never updated or deleted; proofs likewise under ProofKey. Stored objects
// are untrusted input: every replica decodes them (EntryFromObject) and runs
// them through Ledger.Apply before an entry becomes visible.
package ledger
