package identity

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func reportOpsPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkSign signs a 1 KiB payload as a compact JWS.
func BenchmarkSign(b *testing.B) {
	id := newIdentity(b)
	payload := make([]byte, 1<<10)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignJWS(id, payload); err != nil {
			b.Fatal(err)
		}
	}
	reportOpsPerSecond(b)
}

// BenchmarkVerify verifies a compact JWS over a 1 KiB payload, resolving
// the signer's did:key.
func BenchmarkVerify(b *testing.B) {
	id := newIdentity(b)
	payload := make([]byte, 1<<10)
	jws, err := SignJWS(id, payload)
	require.NoError(b, err)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := VerifyJWS(jws); err != nil {
			b.Fatal(err)
		}
	}
	reportOpsPerSecond(b)
}

// BenchmarkVerifyCredential verifies a membership credential (JSON-LD
// canonicalization and an Ed25519Signature2018 proof).
func BenchmarkVerifyCredential(b *testing.B) {
	issuer, member := newIdentity(b), newIdentity(b)
	raw, err := IssueMembership(issuer, "acme", member.DID(), []string{"admin", "operator"}, time.Hour, t0)
	require.NoError(b, err)
	v, err := NewVerifier()
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyCredential(raw, t0); err != nil {
			b.Fatal(err)
		}
	}
	reportOpsPerSecond(b)
}

// BenchmarkIssueMembership issues (and self-verifies) a membership
// credential.
func BenchmarkIssueMembership(b *testing.B) {
	issuer, member := newIdentity(b), newIdentity(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IssueMembership(issuer, "acme", member.DID(), []string{"admin"}, time.Hour, t0); err != nil {
			b.Fatal(err)
		}
	}
	reportOpsPerSecond(b)
}

// BenchmarkIsMember decides membership of a DID 4 credentials from the
// founder, in a federation of 100 members each admitted twice.
func BenchmarkIsMember(b *testing.B) {
	founder := newIdentity(b)
	chain, err := NewChain("acme", founder.DID(), nil)
	require.NoError(b, err)
	members := []*Identity{founder}
	for i := 1; i <= 100; i++ {
		m := newIdentity(b)
		for j := 0; j < 2; j++ {
			// Member i is admitted by member i/4-ish: a tree of depth ~4.
			_, err := chain.Add(admit(b, members[(i-1)/4], m.DID(), t0.Add(time.Duration(i+j)*time.Second), 24*time.Hour))
			require.NoError(b, err)
		}
		members = append(members, m)
	}
	target := members[100].DID()
	now := t0.Add(time.Hour)
	require.NoError(b, chain.IsMember(target, now, nil))
	revoked := func(string) bool { return false }
	b.ReportAllocs()
	for b.Loop() {
		if err := chain.IsMember(target, now, revoked); err != nil {
			b.Fatal(err)
		}
	}
	reportOpsPerSecond(b)
}

// BenchmarkIsMemberDense decides membership in an adversarial federation:
// 300 members, each holding MaxCredentialsPerMember credentials from
// earlier members, so every member's ancestry is the whole federation.
// Credentials are inserted unsigned (the chain logic is measured, not
// signature checks).
func BenchmarkIsMemberDense(b *testing.B) {
	founder := newIdentity(b)
	chain, err := NewChain("acme", founder.DID(), nil)
	require.NoError(b, err)
	dids := []string{founder.DID()}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= 300; i++ {
		did := newIdentity(b).DID()
		for j := 0; j < MaxCredentialsPerMember; j++ {
			issued := t0.Add(time.Duration(i*100+j) * time.Second)
			require.NoError(b, chain.insert(&Membership{
				Credential: Credential{
					ID: newCredentialID(), Issuer: dids[rng.IntN(len(dids))], Subject: did,
					IssuedAt: issued, ExpiresAt: issued.Add(time.Duration(1+rng.IntN(48)) * time.Hour),
				},
				Federation: "acme",
			}))
		}
		dids = append(dids, did)
	}
	target := dids[len(dids)-1]
	now := t0.Add(10 * time.Hour)
	err = chain.IsMember(target, now, nil)
	b.Logf("IsMember: %v", err)
	b.ReportAllocs()
	for b.Loop() {
		_ = chain.IsMember(target, now, nil)
	}
	reportOpsPerSecond(b)
}
