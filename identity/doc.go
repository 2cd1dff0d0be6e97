// Package identity manages the decentralized identities of Lattice members:
// did:key DIDs with Ed25519 keys, keys on disk, JWS signatures, W3C
// Verifiable Credentials, membership credentials and the membership chain
// that admits peers. It knows nothing of gossip internals.
//
// # Identities
//
// A member is its DID, did:key:z6Mk..., the multibase/multicodec encoding of
// its Ed25519 public key, so resolving a DID needs no network and no
// registry (Resolve, PublicKeyFromDID). Only did:key with Ed25519 is
// accepted; other methods and key types are ErrUnsupported. The private key
// is stored by Identity.Save in DATA-DIR/identity/key, PEM PKCS #8 with mode
// 0600, created atomically and never overwritten; Load refuses a key file
// others may read or write. An Identity prints, logs and marshals as its DID
// only.
//
// # Signatures
//
// SignJWS/VerifyJWS use compact JWS (RFC 7515) with alg EdDSA (RFC 8037) and
// kid = DID#fingerprint; the verifier takes the key from the kid's did:key,
// so a valid JWS proves which DID signed it. Encodings are strict
// (base64url without padding or stray bits; no duplicate header members;
// no "crit"), so every signed message has exactly one encoding.
//
// # Credentials
//
// IssueCredential/VerifyCredential use W3C Verifiable Credentials v1 with an
// Ed25519Signature2018 Linked Data proof (detached JWS), through
// hyperledger/aries-framework-go, which stays behind this package: no aries
// type is part of its API, so it can be replaced. Verification is offline:
// JSON-LD contexts come from a document loader preloaded with the W3C
// contexts and LatticeContext, created once per Verifier; any other context
// is refused. Design decisions, each closing a known hole of JSON-LD
// signatures:
//
//   - LatticeContext declares @vocab, so every claim maps to an IRI and is
//     signed (JSON-LD silently drops undefined terms before
//     canonicalization). Strict JSON-LD validation rejects documents whose
//     members do not map exactly as written (aliases, full IRIs).
//   - A verifier accepts only the form IssueCredential produces: the exact
//     two contexts, known members, one proof by the issuer's own key
//     (proof.verificationMethod = issuer#fingerprint), claim names
//     restricted to plain terms (no '@', ':', reserved W3C terms), no null
//     values, no duplicate JSON members, bounded size and nesting. The
//     bounds (MaxCredentialSize, MaxClaimDepth, MaxClaimObjects,
//     MaxClaimValues) are checked before any canonicalization, whose cost
//     grows with blank nodes.
//   - The signature covers the RDF meaning: arrays are sets (order is not
//     protected; duplicates are refused at issuance and verification).
//   - A credential without a proof is not "unsigned but valid": it is
//     refused. aries panics on some malformed input; such panics are
//     recovered and reported as ErrMalformed.
//
// Validity is checked against a caller-supplied time (now), never the wall
// clock, so the simulator and tests control it.
//
// # Membership
//
// A federation starts from one founding DID. A membership credential
// (IssueMembership, type LatticeMembershipCredential, claims federation and
// roles, always expiring) is issued by a member to a new member's DID. Chain
// decides membership: a DID is a member at time t iff it is the founder, or
// holds a credential of the federation, valid at t and not revoked, whose
// issuer is a member at t and was a member when it issued the credential,
// with at most MaxChainDepth credentials from the founder. IsMember computes
// this as a least fixed point over time spans (when each DID on the way is
// a member), so cycles of credentials admit no one and a member admitted by
// someone whose membership lapsed and was renewed is a member exactly while
// its issuer is. Revoking any
// credential of a chain (revocation is by credential ID, decided by the
// caller, e.g. from the ledger) or its expiry cuts every member admitted
// through it who has no other valid chain. Refusals match ErrNoChain and,
// where it applies, the cause (ErrRevoked, ErrExpired, ErrNotYetValid), with
// a message that walks the chain to the break.
//
// Admission implements PeerAuthorizer over a Chain: the transport passes
// the public key a peer proved during the TLS handshake and the credentials
// it presented, and gets the peer's DID and a verdict. Presented credentials
// are verified and learned (a new member is admitted before the ledger entry
// recording its credential has replicated); they can add members only along
// valid chains, never remove any. Revocations count when authored by the
// credential's issuer or the founder; one recorded before the credential is
// known takes effect once it is.
package identity
