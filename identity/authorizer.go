package identity

import "crypto/ed25519"

// PeerAuthorizer decides whether a peer, known by the public key it proved
// it holds (its TLS key), may connect: the transport calls it during the
// handshake and refuses the connection on error. presented are the
// membership credentials the peer showed (its chain towards the founder);
// an authorizer may learn from them but must verify them first.
type PeerAuthorizer interface {
	// AuthorizePeer returns the peer's DID and nil if it is an admitted,
	// unrevoked member. On refusal it returns the error and, if the key is
	// well-formed, the DID anyway, for logging.
	AuthorizePeer(pub ed25519.PublicKey, presented [][]byte) (did string, err error)
}
