// Package gossip moves CRDT deltas between Lattice members.
//
// It owns the QUIC transport (one ALPN per protocol), a hashicorp/memberlist
// Transport implemented over QUIC, the anti-entropy sessions (push
// unacknowledged deltas to a few random live peers each round, pull what
// differs by exchanging digests) and peer admission by DID: QUIC peers
// authenticate with TLS certificates whose keys are their did:key keys, and an
// unknown or revoked DID is refused at the handshake.
//
// The anti-entropy session logic is a pure state machine (inputs in, messages
// out); this package only drives it over real sockets, so the simulator can
// run the very same code on a virtual clock. It knows nothing of federation
// semantics.
//
// This package is a placeholder; it lands in a later issue.
package gossip
