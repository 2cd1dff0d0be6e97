package identity

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// MembershipCredentialType is the type of membership credentials.
const MembershipCredentialType = "LatticeMembershipCredential"

// Limits of membership.
const (
	// MaxChainDepth is the longest chain of membership credentials, from
	// the founder, that IsMember follows.
	MaxChainDepth = 16
	// MaxRoles is how many roles a membership credential may grant.
	MaxRoles = 16
	// MaxCredentialsPerMember is how many membership credentials a Chain
	// keeps for one DID (renewals, admissions by several members).
	MaxCredentialsPerMember = 32
)

// Membership is a verified membership credential: its issuer, a member of
// Federation, admits its subject with Roles until ExpiresAt.
type Membership struct {
	Credential
	Federation string
	Roles      []string
	// Founder is the founder DID the issuer named, a hint for the new
	// member, which has no other way to learn it; peers never trust it
	// (Chain takes the founder from its own configuration). Empty in
	// credentials that do not name one.
	Founder string
}

// ValidateName checks a federation or role name: a DNS label (RFC 1123),
// 1 to 63 lower-case letters, digits and '-', starting and ending with a
// letter or digit.
func ValidateName(name string) error {
	if name == "" || len(name) > 63 {
		return malformed("name %s: want 1 to 63 bytes", quoteShort(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(name)-1) {
			return malformed("name %s: want lower-case letters, digits and '-', starting and ending with a letter or digit", quoteShort(name))
		}
	}
	return nil
}

// normalizeRoles validates roles and returns them sorted, without
// duplicates (the signature treats them as a set).
func normalizeRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if err := ValidateName(r); err != nil {
			return nil, fmt.Errorf("role: %w", err)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxRoles {
		return nil, malformed("%d roles, max %d", len(out), MaxRoles)
	}
	return out, nil
}

// IssueMembership issues a membership credential by which issuer, a member
// of federation, admits memberDID with roles, valid from now for validFor.
func IssueMembership(issuer Signer, federation, memberDID string, roles []string, validFor time.Duration, now time.Time) ([]byte, error) {
	return IssueMembershipWithFounder(issuer, federation, "", memberDID, roles, validFor, now)
}

// IssueMembershipWithFounder is IssueMembership with the federation's
// founder DID named in the credential (Membership.Founder), so that the new
// member knows whom the federation starts from. An empty founder names none.
func IssueMembershipWithFounder(issuer Signer, federation, founder, memberDID string, roles []string, validFor time.Duration, now time.Time) ([]byte, error) {
	if err := ValidateName(federation); err != nil {
		return nil, fmt.Errorf("issue membership: federation: %w", err)
	}
	roles, err := normalizeRoles(roles)
	if err != nil {
		return nil, fmt.Errorf("issue membership: %w", err)
	}
	if validFor < time.Second {
		return nil, fmt.Errorf("issue membership: validity %s is shorter than a second", validFor)
	}
	if memberDID == issuer.DID() {
		return nil, fmt.Errorf("issue membership: %s cannot admit itself", memberDID)
	}
	now = now.UTC().Truncate(time.Second)
	claims := map[string]any{"federation": federation, "roles": roles}
	if founder != "" {
		if _, err := PublicKeyFromDID(founder); err != nil {
			return nil, fmt.Errorf("issue membership: founder: %w", err)
		}
		claims["founder"] = founder
	}
	return IssueCredential(issuer, memberDID, claims, []string{MembershipCredentialType}, now, now.Add(validFor))
}

// VerifyMembership verifies a membership credential for federation that is
// valid at now, with a shared Verifier; see Verifier.VerifyMembership.
func VerifyMembership(raw []byte, federation string, now time.Time) (*Membership, error) {
	v, err := defaultVerifier()
	if err != nil {
		return nil, err
	}
	return v.VerifyMembership(raw, federation, now)
}

// VerifyMembership verifies a membership credential issued by
// IssueMembership for federation, valid at now. Besides the errors of
// VerifyCredential, it returns ErrMalformed for a credential that is not a
// membership credential and ErrWrongFederation for one of another
// federation. It does not check that the issuer is a member: Chain does.
func (v *Verifier) VerifyMembership(raw []byte, federation string, now time.Time) (*Membership, error) {
	m, err := v.verifyMembership(raw)
	if err != nil {
		return nil, err
	}
	if m.Federation != federation {
		return nil, fmt.Errorf("%w: credential %s admits %s to federation %q, not %q", ErrWrongFederation, m.ID, m.Subject, m.Federation, federation)
	}
	if err := m.ValidAt(now); err != nil {
		return nil, err
	}
	return m, nil
}

// verifyMembership checks the form and signature of a membership
// credential, not its validity period or federation.
func (v *Verifier) verifyMembership(raw []byte) (*Membership, error) {
	c, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(c.Types, []string{CredentialType, MembershipCredentialType}) {
		return nil, malformed("credential %s is not a membership credential (types %v)", c.ID, c.Types)
	}
	if c.ExpiresAt.IsZero() {
		return nil, malformed("membership credential %s does not expire", c.ID)
	}
	m := &Membership{Credential: *c}
	for name, value := range c.Claims {
		switch name {
		case "federation":
			s, ok := value.(string)
			if !ok {
				return nil, malformed("membership credential %s: federation is not a string", c.ID)
			}
			if err := ValidateName(s); err != nil {
				return nil, fmt.Errorf("membership credential %s: federation: %w", c.ID, err)
			}
			m.Federation = s
		case "roles":
			var roles []string
			switch value := value.(type) {
			case string: // a one-element array means the same to the signature
				roles = []string{value}
			case []any:
				for _, r := range value {
					s, ok := r.(string)
					if !ok {
						return nil, malformed("membership credential %s: a role is not a string", c.ID)
					}
					roles = append(roles, s)
				}
			default:
				return nil, malformed("membership credential %s: roles is not an array of strings", c.ID)
			}
			if m.Roles, err = normalizeRoles(roles); err != nil {
				return nil, fmt.Errorf("membership credential %s: %w", c.ID, err)
			}
		case "founder":
			s, ok := value.(string)
			if !ok {
				return nil, malformed("membership credential %s: founder is not a string", c.ID)
			}
			if _, err := PublicKeyFromDID(s); err != nil {
				return nil, fmt.Errorf("membership credential %s: founder: %w", c.ID, err)
			}
			m.Founder = s
		default:
			return nil, malformed("membership credential %s has unexpected claim %s", c.ID, quoteShort(name))
		}
	}
	if m.Federation == "" {
		return nil, malformed("membership credential %s names no federation", c.ID)
	}
	if m.Roles == nil {
		m.Roles = []string{}
	}
	if m.Issuer == m.Subject {
		return nil, malformed("membership credential %s is self-issued", c.ID)
	}
	return m, nil
}

// Chain decides membership of one federation: a DID is a member iff it is
// the founder, or holds a membership credential of the federation that is
// valid (issued, not expired) and not revoked, issued by a DID that is a
// member both now and at the credential's issuance — recursively, up to
// MaxChainDepth credentials from the founder. Cycles of credentials admit
// no one.
//
// A Chain holds verified credentials only: Add checks signatures once, and
// IsMember checks times and revocation on every call. It is safe for
// concurrent use.
type Chain struct {
	verifier   *Verifier
	federation string
	founder    string

	mu        sync.RWMutex
	bySubject map[string][]*Membership
}

// NewChain returns the membership chain of federation, founded by
// founderDID, holding credentials (membership credentials as issued by
// IssueMembership, by subject DID). It fails if any credential does not
// verify, is for another federation, or is not for the DID it is filed
// under; use Add to add credentials one by one and skip bad ones.
func NewChain(federation, founderDID string, credentials map[string][]byte) (*Chain, error) {
	if err := ValidateName(federation); err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	if _, err := PublicKeyFromDID(founderDID); err != nil {
		return nil, fmt.Errorf("founder: %w", err)
	}
	v, err := defaultVerifier()
	if err != nil {
		return nil, err
	}
	c := &Chain{verifier: v, federation: federation, founder: founderDID, bySubject: map[string][]*Membership{}}
	subjects := make([]string, 0, len(credentials))
	for s := range credentials {
		subjects = append(subjects, s)
	}
	slices.Sort(subjects)
	for _, s := range subjects {
		m, err := c.check(credentials[s])
		if err != nil {
			return nil, fmt.Errorf("credential of %s: %w", s, err)
		}
		if m.Subject != s {
			return nil, malformed("the credential filed under %s is for %s", s, m.Subject)
		}
		if err := c.insert(m); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Federation returns the name of the federation.
func (c *Chain) Federation() string { return c.federation }

// Founder returns the DID of the founder.
func (c *Chain) Founder() string { return c.founder }

// Add verifies a membership credential of the chain's federation and adds
// it. Adding a credential already held (same ID and subject) is a no-op. It
// does not check times: a credential not valid yet, or expired, is added
// and counts when (if) it is valid.
func (c *Chain) Add(raw []byte) (*Membership, error) {
	m, err := c.check(raw)
	if err != nil {
		return nil, err
	}
	if err := c.insert(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *Chain) check(raw []byte) (*Membership, error) {
	m, err := c.verifier.verifyMembership(raw)
	if err != nil {
		return nil, err
	}
	if m.Federation != c.federation {
		return nil, fmt.Errorf("%w: credential %s admits %s to federation %q, not %q", ErrWrongFederation, m.ID, m.Subject, m.Federation, c.federation)
	}
	return m, nil
}

func (c *Chain) insert(m *Membership) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	have := c.bySubject[m.Subject]
	for _, h := range have {
		if h.ID == m.ID {
			return nil
		}
	}
	if len(have) >= MaxCredentialsPerMember {
		return fmt.Errorf("%w: %s already holds %d membership credentials", ErrTooLarge, m.Subject, len(have))
	}
	c.bySubject[m.Subject] = append(have, m)
	return nil
}

// Credentials returns the credentials held for did.
func (c *Chain) Credentials(did string) []*Membership {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.bySubject[did])
}

// IsMember returns nil iff did is a member of the federation at now (see
// Chain). revoked reports whether a credential, by ID, is revoked; nil means
// none is. It is called at most once per credential and must not call back
// into the Chain.
//
// Every refusal matches ErrNoChain; when a revoked, expired or not yet valid
// credential broke the chain it also matches ErrRevoked, ErrExpired or
// ErrNotYetValid. The message follows the chain from did towards the
// founder to the break. A malformed DID is ErrMalformed.
func (c *Chain) IsMember(did string, now time.Time, revoked func(credentialID string) bool) error {
	if _, err := PublicKeyFromDID(did); err != nil {
		return err
	}
	if did == c.founder {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	ev := c.evaluate(did, now, revoked)
	if ev.member(did, ev.now) {
		return nil
	}
	cause := ev.explain(did, ev.now, 0, map[string]bool{})
	return fmt.Errorf("%w from founder %s to %s: %w", ErrNoChain, c.founder, did, cause)
}

// evaluation is one IsMember computation: when each DID that can matter
// to the DID asked about is a member, as a set of time spans.
type evaluation struct {
	c         *Chain
	now       instant
	revokedFn func(string) bool
	revoked   map[string]bool
	members   map[string]spans
}

func (c *Chain) evaluate(did string, now time.Time, revoked func(string) bool) *evaluation {
	ev := &evaluation{c: c, now: instantOf(now), revokedFn: revoked, revoked: map[string]bool{}}

	// The credentials that can matter: those of did, of their issuers, and
	// so on, up to MaxChainDepth credentials away.
	var relevant []*Membership
	seen := map[string]bool{did: true}
	frontier := []string{did}
	for depth := 0; depth < MaxChainDepth && len(frontier) > 0; depth++ {
		var next []string
		for _, d := range frontier {
			for _, m := range c.bySubject[d] {
				if ev.isRevoked(m.ID) {
					continue
				}
				relevant = append(relevant, m)
				if m.Issuer != c.founder && !seen[m.Issuer] {
					seen[m.Issuer] = true
					next = append(next, m.Issuer)
				}
			}
		}
		frontier = next
	}

	// Least fixed point: a credential makes its subject a member during
	// the part of its validity in which its issuer is a member, provided
	// the issuer was a member when it issued it. Each round recomputes
	// every DID's spans from the previous round's, so round r admits
	// exactly the chains of at most r+1 credentials; cycles add nothing.
	for round := 0; round < MaxChainDepth; round++ {
		next := map[string]spans{}
		for _, m := range relevant {
			from, until := instantOf(m.IssuedAt), instantOf(m.ExpiresAt)
			var got spans
			if m.Issuer == c.founder {
				got = spans{{from, until}}
			} else {
				issuer := ev.members[m.Issuer]
				if !issuer.contains(from) {
					continue
				}
				got = issuer.clip(from, until)
			}
			next[m.Subject] = next[m.Subject].union(got)
		}
		if maps.EqualFunc(next, ev.members, slices.Equal) {
			break
		}
		ev.members = next
	}
	return ev
}

// instant is a time as a comparable value, exact for every year
// (credentials may name any year from 0 to 9999).
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

func (i instant) time() time.Time { return time.Unix(i.sec, int64(i.nsec)).UTC() }

func (i instant) compare(j instant) int {
	if c := cmp.Compare(i.sec, j.sec); c != 0 {
		return c
	}
	return cmp.Compare(i.nsec, j.nsec)
}

// spans is a set of times: sorted, disjoint, non-adjacent half-open
// intervals [from, until).
type spans []span

type span struct{ from, until instant }

func (s spans) contains(t instant) bool {
	for _, sp := range s {
		if t.compare(sp.from) >= 0 && t.compare(sp.until) < 0 {
			return true
		}
	}
	return false
}

// clip returns the part of s within [from, until).
func (s spans) clip(from, until instant) spans {
	var out spans
	for _, sp := range s {
		lo, hi := sp.from, sp.until
		if lo.compare(from) < 0 {
			lo = from
		}
		if hi.compare(until) > 0 {
			hi = until
		}
		if lo.compare(hi) < 0 {
			out = append(out, span{lo, hi})
		}
	}
	return out
}

// union returns the spans of s or o.
func (s spans) union(o spans) spans {
	all := append(slices.Clone(s), o...)
	slices.SortFunc(all, func(a, b span) int { return a.from.compare(b.from) })
	var out spans
	for _, sp := range all {
		if n := len(out); n > 0 && sp.from.compare(out[n-1].until) <= 0 {
			if sp.until.compare(out[n-1].until) > 0 {
				out[n-1].until = sp.until
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}

func (ev *evaluation) member(did string, t instant) bool {
	return did == ev.c.founder || ev.members[did].contains(t)
}

func (ev *evaluation) isRevoked(id string) bool {
	if ev.revokedFn == nil {
		return false
	}
	r, ok := ev.revoked[id]
	if !ok {
		r = ev.revokedFn(id)
		ev.revoked[id] = r
	}
	return r
}

// explain says why did is not a member at t, following its most telling
// credential.
func (ev *evaluation) explain(did string, t instant, depth int, onPath map[string]bool) error {
	at := t.time()
	creds := slices.Clone(ev.c.bySubject[did])
	switch {
	case len(creds) == 0:
		return fmt.Errorf("%s holds no membership credential of federation %q", did, ev.c.federation)
	case onPath[did]:
		return fmt.Errorf("the membership credentials of %s form a cycle that does not reach the founder", did)
	case depth >= MaxChainDepth:
		return fmt.Errorf("the chain is longer than %d credentials", MaxChainDepth)
	}
	onPath[did] = true
	defer delete(onPath, did)
	// Rank: usable (the break is further up), then started (expired or
	// revoked rather than not yet valid), then the latest issued.
	rank := func(m *Membership) int {
		switch {
		case !ev.isRevoked(m.ID) && m.ValidAt(at) == nil:
			return 0
		case !at.Before(m.IssuedAt):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(creds, func(a, b *Membership) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return b.IssuedAt.Compare(a.IssuedAt)
	})
	m := creds[0]
	if ev.isRevoked(m.ID) {
		return fmt.Errorf("%w: membership credential %s of %s (issued by %s)", ErrRevoked, m.ID, did, m.Issuer)
	}
	if err := m.ValidAt(at); err != nil {
		return fmt.Errorf("membership credential of %s: %w", did, err)
	}
	if !ev.member(m.Issuer, t) {
		return fmt.Errorf("%s was admitted by %s, which is not a member at %s: %w",
			did, m.Issuer, at.Format(time.RFC3339), ev.explain(m.Issuer, t, depth+1, onPath))
	}
	issued := instantOf(m.IssuedAt)
	if !ev.member(m.Issuer, issued) {
		return fmt.Errorf("%s was admitted by %s, which was not a member when it issued credential %s at %s: %w",
			did, m.Issuer, m.ID, m.IssuedAt.Format(time.RFC3339), ev.explain(m.Issuer, issued, depth+1, onPath))
	}
	return fmt.Errorf("the chain is longer than %d credentials", MaxChainDepth)
}
