package identity

import (
	"crypto/ed25519"
	"time"
)

// PeerAuthorizer decides whether a peer, known by the public key it proved
// it holds (its TLS key), may join: the transport calls it during the
// handshake and refuses the connection on error.
type PeerAuthorizer interface {
	// AuthorizePeer returns the peer's DID and nil if it is an admitted,
	// unrevoked member. On refusal it returns the error and, if the key is
	// well-formed, the DID anyway, for logging.
	AuthorizePeer(pub ed25519.PublicKey) (did string, err error)
}

// ChainAuthorizer authorizes the members of a Chain.
type ChainAuthorizer struct {
	chain   *Chain
	revoked func(credentialID string) bool
	now     func() time.Time
}

var _ PeerAuthorizer = (*ChainAuthorizer)(nil)

// NewChainAuthorizer returns a PeerAuthorizer admitting the members of
// chain at now() (nil: time.Now), with revoked as in Chain.IsMember.
func NewChainAuthorizer(chain *Chain, revoked func(credentialID string) bool, now func() time.Time) *ChainAuthorizer {
	if now == nil {
		now = time.Now
	}
	return &ChainAuthorizer{chain: chain, revoked: revoked, now: now}
}

// AuthorizePeer derives the peer's did:key DID from pub and checks that it
// is a member (Chain.IsMember).
func (a *ChainAuthorizer) AuthorizePeer(pub ed25519.PublicKey) (string, error) {
	did, err := DIDFromPublicKey(pub)
	if err != nil {
		return "", err
	}
	return did, a.chain.IsMember(did, a.now(), a.revoked)
}
