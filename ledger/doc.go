// Package ledger keeps each member's append-only, hash-chained, signed feed.
//
// It owns the per-member feeds of DID registrations, credentials, contracts
// and revocations; equivocation proofs (two signed entries at one position of
// one feed); and a hashicorp/raft group that serializes one member's feed
// across its highly available controller replicas, so each feed has a single
// writer. It knows nothing of placement.
//
// This package is a placeholder; it lands in a later issue.
package ledger
