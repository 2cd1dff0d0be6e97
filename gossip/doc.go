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
// Files: transport.go (QUIC endpoint, pooled connections per ALPN and
// address), cert.go (did:key certificates carrying the peer claim),
// memberlist_transport.go (memberlist.Transport over QUIC streams),
// antientropy.go (the pure Sync core), replica.go (store and in-memory
// replicas as its Replica), frame.go (anti-entropy frames), node.go (one
// member's gossip: transport + memberlist + Sync + rejoin + admission
// re-checks), metrics.go (Prometheus).
//
// Trust model: every peer is an admitted member, authenticated by its key;
// the replica ID it claims in its certificate is bound to its DID on first
// use, and frames naming another sender are dropped. Deltas relay other
// members' writes, which are not individually signed: an admitted member is
// trusted with replicated data (what must be attributable goes through the
// signed ledger).
package gossip
