package identity

import (
	"crypto/ed25519"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAdmissionAuthorizesMembers(t *testing.T) {
	founder, a, b, stranger := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	credA := admit(t, founder, a.DID(), t0, time.Hour)
	credB := admit(t, a, b.DID(), t0, time.Hour)
	now := t0.Add(time.Minute)
	adm, err := NewAdmission(fed, founder.DID(), func() time.Time { return now })
	require.NoError(t, err)
	var auth PeerAuthorizer = adm

	did, err := auth.AuthorizePeer(founder.PublicKey(), nil)
	require.NoError(t, err)
	require.Equal(t, founder.DID(), did)

	// A peer unknown to the ledger is admitted by the chain it presents.
	_, err = auth.AuthorizePeer(b.PublicKey(), nil)
	require.ErrorIs(t, err, ErrNoChain)
	_, err = auth.AuthorizePeer(b.PublicKey(), [][]byte{credB})
	require.ErrorIs(t, err, ErrNoChain, "B's issuer is not known to be a member yet")
	did, err = auth.AuthorizePeer(b.PublicKey(), [][]byte{credB, credA})
	require.NoError(t, err)
	require.Equal(t, b.DID(), did)
	require.Equal(t, [][]byte{credB, credA}, adm.Presentation(b.DID()), "B's chain, nearest first")
	require.Equal(t, [][]byte{credA}, adm.Presentation(a.DID()))
	require.Empty(t, adm.Presentation(founder.DID()))

	// Junk and credentials of others are skipped, never trusted.
	forged := append([]byte(nil), credA...)
	forged[len(forged)/2] ^= 1
	did, err = auth.AuthorizePeer(stranger.PublicKey(), [][]byte{[]byte("junk"), forged, credA})
	require.ErrorIs(t, err, ErrNoChain)
	require.Equal(t, stranger.DID(), did, "a refused peer's DID is returned for logging")
	_, err = auth.AuthorizePeer(stranger.PublicKey(), make([][]byte, MaxPresentedCredentials+1))
	require.ErrorIs(t, err, ErrTooLarge)

	_, err = auth.AuthorizePeer(ed25519.PublicKey(make([]byte, 31)), nil)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = auth.AuthorizePeer(nil, nil)
	require.ErrorIs(t, err, ErrMalformed)

	// Only the issuer or the founder can revoke; revoking A cuts B off too.
	idA := credID(t, credA)
	counts, err := adm.Revoke(idA, b.DID())
	require.NoError(t, err)
	require.False(t, counts, "B did not issue A's credential")
	require.NoError(t, adm.IsMember(a.DID()))
	counts, err = adm.Revoke(idA, founder.DID())
	require.NoError(t, err)
	require.True(t, counts)
	_, err = auth.AuthorizePeer(a.PublicKey(), nil)
	require.ErrorIs(t, err, ErrRevoked)
	_, err = auth.AuthorizePeer(b.PublicKey(), nil)
	require.ErrorIs(t, err, ErrNoChain)
	require.Empty(t, adm.Presentation(a.DID()), "a revoked credential is not presented")
	_, err = adm.Revoke("not an id", founder.DID())
	require.ErrorIs(t, err, ErrMalformed)
	_, err = adm.Revoke(idA, "did:key:nope")
	require.Error(t, err)

	// Expiry takes effect on the next handshake.
	adm2, err := NewAdmission(fed, founder.DID(), func() time.Time { return now })
	require.NoError(t, err)
	_, err = adm2.Learn(credA)
	require.NoError(t, err)
	require.NoError(t, adm2.IsMember(a.DID()))
	now = t0.Add(time.Hour)
	require.ErrorIs(t, adm2.IsMember(a.DID()), ErrExpired)

	// Default clock: the wall clock, outside A's validity hour (t0 is in 2031).
	adm3, err := NewAdmission(fed, founder.DID(), nil)
	require.NoError(t, err)
	_, err = adm3.AuthorizePeer(a.PublicKey(), [][]byte{credA})
	require.ErrorIs(t, err, ErrNoChain)
	require.True(t, errors.Is(err, ErrNotYetValid) || errors.Is(err, ErrExpired), err)
}

func TestRevocationBeforeCredentialCountsOnceIssuerKnown(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	credA := admit(t, founder, a.DID(), t0, time.Hour)
	credB := admit(t, a, b.DID(), t0, time.Hour)
	adm, err := NewAdmission(fed, founder.DID(), func() time.Time { return t0.Add(time.Minute) })
	require.NoError(t, err)
	counts, err := adm.Revoke(credID(t, credB), a.DID())
	require.NoError(t, err)
	require.False(t, counts, "issuer unknown yet")
	for _, c := range [][]byte{credA, credB} {
		_, err := adm.Learn(c)
		require.NoError(t, err)
	}
	require.True(t, adm.Revoked(credID(t, credB)))
	require.ErrorIs(t, adm.IsMember(b.DID()), ErrRevoked)
	require.NoError(t, adm.IsMember(a.DID()))
}

func TestMembershipNamesFounder(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	raw, err := IssueMembershipWithFounder(a, fed, founder.DID(), b.DID(), nil, time.Hour, t0)
	require.NoError(t, err)
	m, err := VerifyMembership(raw, fed, t0)
	require.NoError(t, err)
	require.Equal(t, founder.DID(), m.Founder)
	m, err = VerifyMembership(admit(t, founder, a.DID(), t0, time.Hour), fed, t0)
	require.NoError(t, err)
	require.Empty(t, m.Founder)
	_, err = IssueMembershipWithFounder(a, fed, "did:key:bad", b.DID(), nil, time.Hour, t0)
	require.Error(t, err)
}

// Handshakes run concurrently: peers' credentials are learned (chain
// writes, then admission writes) while others are checked (the chain
// asking admission for revocations) and presented (admission data over
// chain credentials). None of it may deadlock; it once did when
// Presentation held the admission lock while it asked the chain.
func TestAdmissionConcurrentHandshakes(t *testing.T) {
	founder := newIdentity(t)
	adm, err := NewAdmission(fed, founder.DID(), func() time.Time { return t0.Add(time.Minute) })
	require.NoError(t, err)
	const peers, rounds = 24, 8
	ids := make([]*Identity, peers)
	for i := range ids {
		ids[i] = newIdentity(t)
	}
	// A new credential per peer and round, so the chain keeps taking
	// writes; revocations by non-issuers keep admission taking writes
	// without cutting anyone off.
	creds := make([][][]byte, rounds)
	credIDs := make([][]string, rounds)
	for r := range creds {
		for i := range ids {
			c := admit(t, founder, ids[i].DID(), t0.Add(time.Duration(r)*time.Second), time.Hour)
			creds[r] = append(creds[r], c)
			credIDs[r] = append(credIDs[r], credID(t, c))
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	work := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i % peers)
			}
		}()
	}
	for range 8 {
		work(func(i int) { _ = adm.IsMember(ids[i].DID()) })
		work(func(i int) { _ = adm.Presentation(ids[i].DID()) })
	}
	done := make(chan struct{})
	var learners sync.WaitGroup
	for l := range 4 {
		learners.Add(1)
		go func() {
			defer learners.Done()
			for r := l; r < rounds; r += 4 {
				for i := range peers {
					_, _ = adm.AuthorizePeer(ids[i].PublicKey(), [][]byte{creds[r][i]})
					_, _ = adm.Revoke(credIDs[r][i], ids[(i+1)%peers].DID())
				}
			}
		}()
	}
	go func() {
		learners.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("handshakes deadlocked:\n%s", buf[:runtime.Stack(buf, true)])
	}
	close(stop)
	wg.Wait()
	for i := range peers {
		require.NoError(t, adm.IsMember(ids[i].DID()))
	}
}
