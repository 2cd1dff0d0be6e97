package identity

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MaxPresentedCredentials bounds how many credentials a peer may present
// at a handshake (its chain to the founder, at most MaxChainDepth deep, and
// a few renewals).
const MaxPresentedCredentials = 2 * MaxChainDepth

// Admission is a member's live view of who belongs to its federation: the
// membership Chain, fed with credentials learned from the replicated ledger
// and presented by peers at handshakes, and the revocations recorded in the
// ledger. It implements PeerAuthorizer for the transport. It is safe for
// concurrent use.
//
// A revocation counts only when its author is the credential's issuer or
// the founder; anyone else's revocation entry is kept (the issuer may be
// learned later) but ignored.
type Admission struct {
	chain *Chain
	now   func() time.Time

	mu       sync.RWMutex
	revokers map[string][]string // credential ID → DIDs that revoked it
	issuers  map[string]string   // credential ID → issuer DID
	raw      map[string][]byte   // credential ID → the credential as learned
}

var _ PeerAuthorizer = (*Admission)(nil)

// NewAdmission returns the admission view of federation, founded by
// founderDID, at now() (nil: time.Now).
func NewAdmission(federation, founderDID string, now func() time.Time) (*Admission, error) {
	chain, err := NewChain(federation, founderDID, nil)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Admission{
		chain:    chain,
		now:      now,
		revokers: map[string][]string{},
		issuers:  map[string]string{},
		raw:      map[string][]byte{},
	}, nil
}

// Chain returns the underlying membership chain.
func (a *Admission) Chain() *Chain { return a.chain }

// Learn verifies a membership credential and adds it to the chain. Learning
// one already known is a no-op.
func (a *Admission) Learn(raw []byte) (*Membership, error) {
	m, err := a.chain.Add(raw)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.raw[m.ID]; !ok {
		a.issuers[m.ID] = m.Issuer
		a.raw[m.ID] = slices.Clone(raw)
	}
	return m, nil
}

// Revoke records that author revoked credential id. It reports whether the
// revocation counts now (author is the credential's known issuer or the
// founder).
func (a *Admission) Revoke(id, author string) (bool, error) {
	if !validCredentialID(id) {
		return false, malformed("revocation names an invalid credential ID %s", quoteShort(id))
	}
	if _, err := PublicKeyFromDID(author); err != nil {
		return false, fmt.Errorf("revocation author: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.revokers[id], author) {
		if len(a.revokers[id]) >= MaxCredentialsPerMember {
			return false, fmt.Errorf("%w: credential %s already has %d revocations", ErrTooLarge, id, len(a.revokers[id]))
		}
		a.revokers[id] = append(a.revokers[id], author)
	}
	return a.revokedLocked(id), nil
}

// Revoked reports whether credential id is revoked by its issuer or the
// founder.
func (a *Admission) Revoked(id string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.revokedLocked(id)
}

func (a *Admission) revokedLocked(id string) bool {
	issuer := a.issuers[id]
	for _, by := range a.revokers[id] {
		if by == a.chain.founder || (issuer != "" && by == issuer) {
			return true
		}
	}
	return false
}

// IsMember reports whether did is an admitted, unrevoked member now.
func (a *Admission) IsMember(did string) error {
	return a.chain.IsMember(did, a.now(), a.Revoked)
}

// AuthorizePeer learns the credentials a peer presented (bad ones are
// skipped: they may belong to another federation or be junk) and answers
// whether the holder of pub is an admitted, unrevoked member.
func (a *Admission) AuthorizePeer(pub ed25519.PublicKey, presented [][]byte) (string, error) {
	did, err := DIDFromPublicKey(pub)
	if err != nil {
		return "", err
	}
	if len(presented) > MaxPresentedCredentials {
		return did, fmt.Errorf("%w: %d credentials presented, max %d", ErrTooLarge, len(presented), MaxPresentedCredentials)
	}
	for _, raw := range presented {
		_, _ = a.Learn(raw)
	}
	return did, a.IsMember(did)
}

// Presentation returns the credentials did presents at a handshake: those
// held for it and, recursively, for their issuers, up to MaxChainDepth
// levels and MaxPresentedCredentials credentials, in a deterministic order
// (nearest first).
//
// It never holds a.mu while it asks the chain: IsMember holds the chain's
// lock while it asks a.Revoked, and two RWMutexes taken in both orders
// deadlock once a writer waits on each (seen under concurrent handshakes).
func (a *Admission) Presentation(did string) [][]byte {
	var out [][]byte
	seen := map[string]bool{}
	level := []string{did}
	for depth := 0; depth < MaxChainDepth && len(level) > 0; depth++ {
		var next []string
		for _, d := range level {
			if d == a.chain.founder {
				continue
			}
			ms := a.chain.Credentials(d)
			slices.SortFunc(ms, func(x, y *Membership) int { return y.IssuedAt.Compare(x.IssuedAt) })
			for _, m := range ms {
				raw, ok := a.presentable(m.ID)
				if !ok || seen[m.ID] {
					continue
				}
				if len(out) == MaxPresentedCredentials {
					return out
				}
				seen[m.ID] = true
				out = append(out, raw)
				if !slices.Contains(next, m.Issuer) {
					next = append(next, m.Issuer)
				}
			}
		}
		level = next
	}
	return out
}

// presentable returns credential id as learned, unless it is unknown or
// revoked.
func (a *Admission) presentable(id string) ([]byte, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	raw, ok := a.raw[id]
	return raw, ok && !a.revokedLocked(id)
}

// ValidCredentialID reports whether id has the form of a credential ID this
// package issues (urn:uuid:…).
func ValidCredentialID(id string) bool { return validCredentialID(id) }
