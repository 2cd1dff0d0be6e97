package identity

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const fed = "acme"

func admit(t testing.TB, issuer *Identity, member string, at time.Time, validFor time.Duration, roles ...string) []byte {
	t.Helper()
	raw, err := IssueMembership(issuer, fed, member, roles, validFor, at)
	require.NoError(t, err)
	return raw
}

func TestMembershipRoundTrip(t *testing.T) {
	founder, a := newIdentity(t), newIdentity(t)
	raw := admit(t, founder, a.DID(), t0, 24*time.Hour, "operator", "admin", "operator")
	m, err := VerifyMembership(raw, fed, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, fed, m.Federation)
	require.Equal(t, []string{"admin", "operator"}, m.Roles, "sorted, without duplicates")
	require.Equal(t, founder.DID(), m.Issuer)
	require.Equal(t, a.DID(), m.Subject)
	require.Equal(t, []string{CredentialType, MembershipCredentialType}, m.Types)
	require.Equal(t, t0, m.IssuedAt)
	require.Equal(t, t0.Add(24*time.Hour), m.ExpiresAt)

	// A membership credential is a credential.
	c, err := VerifyCredential(raw, t0)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"federation": fed, "roles": []any{"admin", "operator"}}, c.Claims)

	// No roles.
	m, err = VerifyMembership(admit(t, founder, a.DID(), t0, time.Hour), fed, t0)
	require.NoError(t, err)
	require.Equal(t, []string{}, m.Roles)
}

func TestVerifyMembershipRejects(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	raw := admit(t, founder, a.DID(), t0, time.Hour, "admin", "ops")
	generic, err := IssueCredential(founder, a.DID(), map[string]any{"federation": fed}, []string{MembershipCredentialType}, t0, time.Time{})
	require.NoError(t, err)
	extraClaim, err := IssueCredential(founder, a.DID(), map[string]any{"federation": fed, "roles": []string{"x"}, "admin": true}, []string{MembershipCredentialType}, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	otherType, err := IssueCredential(founder, a.DID(), map[string]any{"federation": fed, "roles": []string{"x"}}, []string{"OtherCredential"}, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	badFederation, err := IssueCredential(founder, a.DID(), map[string]any{"federation": "Not A Name", "roles": []string{}}, []string{MembershipCredentialType}, t0, t0.Add(time.Hour))
	require.NoError(t, err)

	for _, tc := range []struct {
		name       string
		raw        []byte
		federation string
		now        time.Time
		want       error
		msg        string
	}{
		{"other federation", raw, "globex", t0, ErrWrongFederation, `to federation "acme", not "globex"`},
		{"expired", raw, fed, t0.Add(time.Hour), ErrExpired, "expired at"},
		{"not yet valid", raw, fed, t0.Add(-time.Second), ErrNotYetValid, "valid from"},
		{"federation tampered", tamper(t, raw, `"federation":"acme"`, `"federation":"acmf"`), "acmf", t0, ErrBadSignature, "does not verify"},
		{"role added", tamper(t, raw, `["admin","ops"]`, `["admin","ops","root"]`), fed, t0, ErrBadSignature, "does not verify"},
		{"roles as a string", tamper(t, raw, `["admin","ops"]`, `"admin"`), fed, t0, ErrBadSignature, "does not verify"},
		{"subject swapped", tamper(t, raw, a.DID(), b.DID()), fed, t0, ErrBadSignature, "does not verify"},
		{"no expiry", generic, fed, t0, ErrMalformed, "does not expire"},
		{"extra claim", extraClaim, fed, t0, ErrMalformed, `unexpected claim "admin"`},
		{"other type", otherType, fed, t0, ErrMalformed, "not a membership credential"},
		{"bad federation name", badFederation, "Not A Name", t0, ErrMalformed, "federation"},
		{"garbage", []byte("{}"), fed, t0, ErrMalformed, "@context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := VerifyMembership(tc.raw, tc.federation, tc.now)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.msg)
			require.Nil(t, m)
		})
	}
}

func TestIssueMembershipRejects(t *testing.T) {
	founder, a := newIdentity(t), newIdentity(t)
	for _, tc := range []struct {
		name, federation, member string
		roles                    []string
		validFor                 time.Duration
		msg                      string
	}{
		{"bad federation", "Acme Corp", a.DID(), nil, time.Hour, "federation"},
		{"empty federation", "", a.DID(), nil, time.Hour, "federation"},
		{"long federation", strings.Repeat("a", 64), a.DID(), nil, time.Hour, "federation"},
		{"federation ends with dash", "acme-", a.DID(), nil, time.Hour, "federation"},
		{"bad role", fed, a.DID(), []string{"Admin"}, time.Hour, "role"},
		{"too many roles", fed, a.DID(), strings.Split("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", ","), time.Hour, "max 16"},
		{"no validity", fed, a.DID(), nil, 0, "shorter than a second"},
		{"negative validity", fed, a.DID(), nil, -time.Hour, "shorter than a second"},
		{"self admission", fed, founder.DID(), nil, time.Hour, "cannot admit itself"},
		{"bad member", fed, "did:key:zzz", nil, time.Hour, "subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := IssueMembership(founder, tc.federation, tc.member, tc.roles, tc.validFor, t0)
			require.ErrorContains(t, err, tc.msg)
			require.Nil(t, raw)
		})
	}
	require.NoError(t, ValidateName("eu-west-1"))
	require.NoError(t, ValidateName("a"))
}

// revokedSet is a revocation list for tests; it counts lookups.
type revokedSet struct {
	mu    sync.Mutex
	ids   map[string]bool
	calls map[string]int
}

func revoke(ids ...string) *revokedSet {
	r := &revokedSet{ids: map[string]bool{}, calls: map[string]int{}}
	for _, id := range ids {
		r.ids[id] = true
	}
	return r
}

func (r *revokedSet) fn(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id]++
	return r.ids[id]
}

func credID(t testing.TB, raw []byte) string {
	t.Helper()
	var doc struct{ ID string }
	require.NoError(t, json.Unmarshal(raw, &doc))
	return doc.ID
}

// TestChain: founder admits A, A admits B.
func TestChain(t *testing.T) {
	founder, a, b, c := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	credA := admit(t, founder, a.DID(), t0, 10*time.Hour)
	credB := admit(t, a, b.DID(), t0.Add(time.Hour), 10*time.Hour)
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{a.DID(): credA, b.DID(): credB})
	require.NoError(t, err)
	require.Equal(t, fed, chain.Federation())
	require.Equal(t, founder.DID(), chain.Founder())
	idA, idB := credID(t, credA), credID(t, credB)
	now := t0.Add(2 * time.Hour)

	t.Run("valid", func(t *testing.T) {
		for _, did := range []string{founder.DID(), a.DID(), b.DID()} {
			require.NoError(t, chain.IsMember(did, now, nil), did)
			require.NoError(t, chain.IsMember(did, now, revoke().fn), did)
		}
		// The founder is a member at any time, with no credential.
		require.NoError(t, chain.IsMember(founder.DID(), time.Time{}, revoke().fn))
	})

	for _, tc := range []struct {
		name    string
		did     string
		now     time.Time
		revoked *revokedSet
		want    []error
		msg     []string
	}{
		{"A's credential revoked breaks B", b.DID(), now, revoke(idA), []error{ErrNoChain, ErrRevoked},
			[]string{b.DID() + " was admitted by " + a.DID() + ", which is not a member", "credential " + idA + " of " + a.DID()}},
		{"A's credential revoked", a.DID(), now, revoke(idA), []error{ErrNoChain, ErrRevoked}, []string{idA}},
		{"B's credential revoked", b.DID(), now, revoke(idB), []error{ErrNoChain, ErrRevoked}, []string{idB}},
		{"A's credential expired breaks B", b.DID(), t0.Add(10 * time.Hour), revoke(), []error{ErrNoChain, ErrExpired},
			[]string{"which is not a member", "expired at"}},
		{"B's credential not yet valid", b.DID(), t0.Add(30 * time.Minute), revoke(), []error{ErrNoChain, ErrNotYetValid}, []string{"valid from"}},
		{"B's credential expired", b.DID(), t0.Add(11 * time.Hour), revoke(), []error{ErrNoChain, ErrExpired}, []string{"expired at"}},
		{"stranger", c.DID(), now, revoke(), []error{ErrNoChain}, []string{c.DID() + " holds no membership credential"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := chain.IsMember(tc.did, tc.now, tc.revoked.fn)
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			for _, m := range tc.msg {
				require.Contains(t, err.Error(), m)
			}
			require.Contains(t, err.Error(), "no valid membership chain from founder "+founder.DID()+" to "+tc.did)
			for id, n := range tc.revoked.calls {
				require.Equal(t, 1, n, "revoked(%s) called more than once", id)
			}
		})
	}

	t.Run("malformed DID", func(t *testing.T) {
		require.ErrorIs(t, chain.IsMember("did:key:nope", now, nil), ErrMalformed)
		require.ErrorIs(t, chain.IsMember("did:web:example.com", now, nil), ErrUnsupported)
	})
}

func TestChainNotReachingFounder(t *testing.T) {
	founder, x, y := newIdentity(t), newIdentity(t), newIdentity(t)
	// X is no member, so whom it admits is not either.
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{y.DID(): admit(t, x, y.DID(), t0, time.Hour)})
	require.NoError(t, err)
	err = chain.IsMember(y.DID(), t0, nil)
	require.ErrorIs(t, err, ErrNoChain)
	require.NotErrorIs(t, err, ErrExpired)
	require.NotErrorIs(t, err, ErrRevoked)
	require.Contains(t, err.Error(), x.DID()+" holds no membership credential")
}

func TestChainCycle(t *testing.T) {
	founder, a, b, c := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	// A and B admit each other, C is admitted by B: none reaches the founder.
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{
		a.DID(): admit(t, b, a.DID(), t0, time.Hour),
		b.DID(): admit(t, a, b.DID(), t0, time.Hour),
		c.DID(): admit(t, b, c.DID(), t0, time.Hour),
	})
	require.NoError(t, err)
	for _, did := range []string{a.DID(), b.DID(), c.DID()} {
		err := chain.IsMember(did, t0, nil)
		require.ErrorIs(t, err, ErrNoChain, did)
		require.Contains(t, err.Error(), "form a cycle")
	}

	// Once the founder admits A, the cycle is harmless: all are members.
	_, err = chain.Add(admit(t, founder, a.DID(), t0, time.Hour))
	require.NoError(t, err)
	for _, did := range []string{a.DID(), b.DID(), c.DID()} {
		require.NoError(t, chain.IsMember(did, t0, nil), did)
	}
}

func TestChainIssuerMustBeMemberAtIssuance(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	// A admits B before A is itself admitted.
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{
		a.DID(): admit(t, founder, a.DID(), t0.Add(time.Hour), 10*time.Hour),
		b.DID(): admit(t, a, b.DID(), t0, 10*time.Hour),
	})
	require.NoError(t, err)
	now := t0.Add(2 * time.Hour)
	require.NoError(t, chain.IsMember(a.DID(), now, nil))
	err = chain.IsMember(b.DID(), now, nil)
	require.ErrorIs(t, err, ErrNoChain)
	require.ErrorIs(t, err, ErrNotYetValid, "A's credential was not yet valid when it admitted B")
	require.Contains(t, err.Error(), "which was not a member when it issued credential")

	// A later admission of B by A counts.
	_, err = chain.Add(admit(t, a, b.DID(), t0.Add(90*time.Minute), time.Hour))
	require.NoError(t, err)
	require.NoError(t, chain.IsMember(b.DID(), now, nil))
}

func TestChainRenewal(t *testing.T) {
	founder, a := newIdentity(t), newIdentity(t)
	old := admit(t, founder, a.DID(), t0, time.Hour)
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{a.DID(): old})
	require.NoError(t, err)
	later := t0.Add(2 * time.Hour)
	require.ErrorIs(t, chain.IsMember(a.DID(), later, nil), ErrExpired)

	renewed := admit(t, founder, a.DID(), t0.Add(50*time.Minute), 24*time.Hour)
	m, err := chain.Add(renewed)
	require.NoError(t, err)
	require.Equal(t, a.DID(), m.Subject)
	require.NoError(t, chain.IsMember(a.DID(), later, nil))
	// Revoking the renewal leaves the expired one: the cause is the revocation.
	err = chain.IsMember(a.DID(), later, revoke(credID(t, renewed)).fn)
	require.ErrorIs(t, err, ErrRevoked)

	// Adding a credential twice keeps one copy.
	_, err = chain.Add(renewed)
	require.NoError(t, err)
	require.Len(t, chain.Credentials(a.DID()), 2)
}

func TestChainDepthBound(t *testing.T) {
	founder := newIdentity(t)
	ids := []*Identity{founder}
	creds := map[string][]byte{}
	for i := 0; i <= MaxChainDepth; i++ {
		next := newIdentity(t)
		creds[next.DID()] = admit(t, ids[len(ids)-1], next.DID(), t0, time.Hour)
		ids = append(ids, next)
	}
	chain, err := NewChain(fed, founder.DID(), creds)
	require.NoError(t, err)
	// ids[i] is i credentials from the founder.
	require.NoError(t, chain.IsMember(ids[MaxChainDepth].DID(), t0, nil))
	err = chain.IsMember(ids[MaxChainDepth+1].DID(), t0, nil)
	require.ErrorIs(t, err, ErrNoChain)
	require.Contains(t, err.Error(), "longer than 16 credentials")
}

func TestNewChainRejects(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	credA := admit(t, founder, a.DID(), t0, time.Hour)
	other, err := IssueMembership(founder, "globex", a.DID(), nil, time.Hour, t0)
	require.NoError(t, err)

	_, err = NewChain(fed, founder.DID(), map[string][]byte{b.DID(): credA})
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "filed under "+b.DID())
	_, err = NewChain(fed, founder.DID(), map[string][]byte{a.DID(): other})
	require.ErrorIs(t, err, ErrWrongFederation)
	_, err = NewChain(fed, founder.DID(), map[string][]byte{a.DID(): tamper(t, credA, `"acme"`, `"acmf"`)})
	require.ErrorIs(t, err, ErrBadSignature)
	_, err = NewChain("Bad Name", founder.DID(), nil)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = NewChain(fed, "did:web:x", nil)
	require.ErrorIs(t, err, ErrUnsupported)

	chain, err := NewChain(fed, founder.DID(), nil)
	require.NoError(t, err)
	_, err = chain.Add(other)
	require.ErrorIs(t, err, ErrWrongFederation)
	_, err = chain.Add([]byte("{"))
	require.ErrorIs(t, err, ErrMalformed)
	require.Empty(t, chain.Credentials(a.DID()), "rejected credentials leave the chain as it was")
	require.ErrorIs(t, chain.IsMember(a.DID(), t0, nil), ErrNoChain)
}

func TestChainCredentialsPerMemberBound(t *testing.T) {
	founder, a := newIdentity(t), newIdentity(t)
	chain, err := NewChain(fed, founder.DID(), nil)
	require.NoError(t, err)
	for i := 0; i < MaxCredentialsPerMember; i++ {
		_, err := chain.Add(admit(t, founder, a.DID(), t0.Add(time.Duration(i)*time.Second), time.Hour))
		require.NoError(t, err)
	}
	_, err = chain.Add(admit(t, founder, a.DID(), t0, time.Hour))
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestChainConcurrent(t *testing.T) {
	founder, a := newIdentity(t), newIdentity(t)
	chain, err := NewChain(fed, founder.DID(), nil)
	require.NoError(t, err)
	creds := make([][]byte, 8)
	for i := range creds {
		creds[i] = admit(t, founder, a.DID(), t0, time.Hour)
	}
	var wg sync.WaitGroup
	for i := range creds {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := chain.Add(creds[i])
			require.NoError(t, err)
		}()
		go func() {
			defer wg.Done()
			err := chain.IsMember(a.DID(), t0, nil)
			require.True(t, err == nil || errors.Is(err, ErrNoChain), err)
		}()
	}
	wg.Wait()
	require.NoError(t, chain.IsMember(a.DID(), t0, nil))
}

func TestChainExtremeTimes(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	longAgo := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	credA, err := IssueCredential(founder, a.DID(), map[string]any{"federation": fed, "roles": []string{"admin"}},
		[]string{MembershipCredentialType}, longAgo, time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	credB := admit(t, a, b.DID(), t0, time.Hour)
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{a.DID(): credA, b.DID(): credB})
	require.NoError(t, err)
	require.NoError(t, chain.IsMember(a.DID(), t0, nil))
	require.NoError(t, chain.IsMember(a.DID(), time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), nil))
	require.NoError(t, chain.IsMember(b.DID(), t0, nil))
	require.ErrorIs(t, chain.IsMember(b.DID(), time.Time{}, nil), ErrNotYetValid)
	require.ErrorIs(t, chain.IsMember(a.DID(), time.Time{}, nil), ErrNotYetValid)
}

// TestChainMembershipGap: B, admitted by A, is a member only while A is.
func TestChainMembershipGap(t *testing.T) {
	founder, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	h := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }
	chain, err := NewChain(fed, founder.DID(), map[string][]byte{b.DID(): admit(t, a, b.DID(), h(1), 4*time.Hour)})
	require.NoError(t, err)
	for _, raw := range [][]byte{
		admit(t, founder, a.DID(), h(0), 2*time.Hour), // A: [0h, 2h)
		admit(t, founder, a.DID(), h(3), 5*time.Hour), // A: [3h, 8h)
	} {
		_, err := chain.Add(raw)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		at   float64
		want error
	}{
		{0.5, ErrNotYetValid}, // B's credential starts at 1h
		{1.5, nil},
		{2.5, ErrExpired}, // A's first credential expired, the second not yet valid
		{3.5, nil},        // A is a member again, and was when it admitted B
		{5, ErrExpired},   // B's credential expired
	} {
		err := chain.IsMember(b.DID(), h(tc.at), nil)
		if tc.want == nil {
			require.NoError(t, err, "at %vh", tc.at)
			continue
		}
		require.ErrorIs(t, err, ErrNoChain, "at %vh", tc.at)
		require.ErrorIs(t, err, tc.want, "at %vh: %v", tc.at, err)
	}
}

func TestSpans(t *testing.T) {
	at := func(s int64) instant { return instant{sec: s} }
	sp := func(pairs ...int64) spans {
		var out spans
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, span{at(pairs[i]), at(pairs[i+1])})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		a, b spans
		want spans
	}{
		{"empty", nil, nil, nil},
		{"one", sp(1, 2), nil, sp(1, 2)},
		{"disjoint", sp(5, 6), sp(1, 2), sp(1, 2, 5, 6)},
		{"adjacent merge", sp(1, 2), sp(2, 3), sp(1, 3)},
		{"overlap", sp(1, 5), sp(3, 8), sp(1, 8)},
		{"contained", sp(1, 10), sp(3, 4, 6, 7), sp(1, 10)},
		{"bridge", sp(1, 3, 6, 9), sp(2, 7), sp(1, 9)},
	} {
		t.Run("union "+tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.a.union(tc.b))
			require.Equal(t, tc.want, tc.b.union(tc.a))
		})
	}
	s := sp(1, 3, 6, 9)
	require.Equal(t, sp(2, 3, 6, 7), s.clip(at(2), at(7)))
	require.Equal(t, sp(1, 3, 6, 9), s.clip(at(0), at(100)))
	require.Empty(t, s.clip(at(3), at(6)))
	for _, c := range []struct {
		t  int64
		in bool
	}{{0, false}, {1, true}, {2, true}, {3, false}, {5, false}, {6, true}, {8, true}, {9, false}} {
		require.Equal(t, c.in, s.contains(at(c.t)), "t=%d", c.t)
	}
	// Nanoseconds count.
	require.True(t, spans{{instant{1, 0}, instant{1, 5}}}.contains(instant{1, 4}))
	require.False(t, spans{{instant{1, 0}, instant{1, 5}}}.contains(instant{1, 5}))
}
