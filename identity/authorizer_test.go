package identity

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChainAuthorizer(t *testing.T) {
	founder, a, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	credA := admit(t, founder, a.DID(), t0, time.Hour)
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{a.DID(): credA})
	require.NoError(t, err)
	now := t0.Add(time.Minute)
	revoked := revoke()
	var auth PeerAuthorizer = NewChainAuthorizer(chain, revoked.fn, func() time.Time { return now })

	for _, id := range []*Identity{founder, a} {
		did, err := auth.AuthorizePeer(id.PublicKey())
		require.NoError(t, err)
		require.Equal(t, id.DID(), did)
	}

	did, err := auth.AuthorizePeer(stranger.PublicKey())
	require.ErrorIs(t, err, ErrNoChain)
	require.Equal(t, stranger.DID(), did, "a refused peer's DID is returned for logging")

	_, err = auth.AuthorizePeer(ed25519.PublicKey(make([]byte, 31)))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = auth.AuthorizePeer(nil)
	require.ErrorIs(t, err, ErrMalformed)

	// Revocation and expiry take effect on the next handshake.
	revoked.ids[credID(t, credA)] = true
	_, err = auth.AuthorizePeer(a.PublicKey())
	require.ErrorIs(t, err, ErrRevoked)
	delete(revoked.ids, credID(t, credA))
	now = t0.Add(time.Hour)
	_, err = auth.AuthorizePeer(a.PublicKey())
	require.ErrorIs(t, err, ErrExpired)

	// Default clock: the wall clock, which is outside A's validity hour
	// (t0 is in 2031).
	_, err = NewChainAuthorizer(chain, nil, nil).AuthorizePeer(a.PublicKey())
	require.ErrorIs(t, err, ErrNoChain)
	require.True(t, errors.Is(err, ErrNotYetValid) || errors.Is(err, ErrExpired), err)
}
