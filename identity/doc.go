// Package identity manages the decentralized identities of Lattice members.
//
// It owns did:key creation and resolution, keys on disk, signing and
// verifying (JWS and Verifiable Credentials), membership credentials (a VC
// issued by an existing member that admits a new one) and revocation checks.
// It knows nothing of gossip internals.
//
// This package is a placeholder; it lands in a later issue.
package identity
