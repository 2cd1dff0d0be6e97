package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/ledger"
)

// CredentialPayload is the payload of a credential ledger entry.
type CredentialPayload struct {
	Credential json.RawMessage `json:"credential"`
}

// RevocationPayload is the payload of a revocation ledger entry: the ID of
// the membership credential revoked. It counts when the entry's author is
// the credential's issuer or the federation's founder.
type RevocationPayload struct {
	Credential string `json:"credential"`
}

// ledgerFollower verifies every ledger entry that reaches the store (from
// this member or replicated from others) and feeds the verified
// credentials and revocations to the member's admission view. Equivocation
// proofs it finds are stored so that every member learns them.
type ledgerFollower struct {
	st  *crdt.Store
	adm *identity.Admission
	l   *ledger.Ledger
	log *slog.Logger
	// onRevoke, if set, runs after a revocation that counts (to re-check
	// live connections at once); set while the follower runs.
	onRevoke atomic.Pointer[func()]
}

func (f *ledgerFollower) run(ctx context.Context) {
	prefix := ledger.LedgerGroup + "/"
	for ctx.Err() == nil {
		// From 0: replay every entry held, then follow. A restarted watch
		// replays again; the ledger ignores duplicates.
		w, err := f.st.Watch(ctx, prefix, 0)
		if err != nil {
			f.log.Warn("ledger watch failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for ev := range w.Events() {
			if ev.Type == crdt.EventDeleted {
				continue
			}
			f.handle(ctx, ev.Object)
		}
		w.Stop()
	}
}

func (f *ledgerFollower) handle(ctx context.Context, o crdt.Object) {
	_, kind, _, _ := o.Key.Parts()
	switch kind {
	case ledger.EntryKind:
		e, err := ledger.EntryFromObject(o.Value)
		if err != nil {
			f.log.Warn("ledger entry rejected", "key", o.Key, "err", err)
			return
		}
		res, err := f.l.Apply(e)
		if res.Proof != nil {
			f.storeProof(ctx, res.Proof)
		}
		if err != nil && !errors.Is(err, ledger.ErrDuplicate) && !errors.Is(err, ledger.ErrGap) {
			f.log.Warn("ledger entry rejected", "key", o.Key, "err", err)
		}
		for _, a := range res.Applied {
			f.apply(a)
		}
	case ledger.ProofKind:
		p, err := ledger.ProofFromObject(o.Value)
		if err != nil {
			f.log.Warn("equivocation proof rejected", "key", o.Key, "err", err)
			return
		}
		if marked, err := f.l.ApplyProof(p); err != nil {
			f.log.Warn("equivocation proof rejected", "key", o.Key, "err", err)
		} else if marked {
			f.log.Warn("member marked misbehaving: it signed two entries at one position", "author", p.Author, "seq", p.Seq)
		}
	}
}

func (f *ledgerFollower) storeProof(ctx context.Context, p *ledger.EquivocationProof) {
	key, err := ledger.ProofKey(p.Author, p.Seq)
	if err != nil {
		return
	}
	obj, err := ledger.ProofObject(p)
	if err != nil {
		return
	}
	if _, err := f.st.Create(ctx, key, obj); err != nil && !errors.Is(err, crdt.ErrAlreadyExists) {
		f.log.Warn("storing equivocation proof failed", "author", p.Author, "err", err)
	}
}

func (f *ledgerFollower) apply(e *ledger.Entry) {
	switch e.Type {
	case ledger.TypeCredential:
		var p CredentialPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil || len(p.Credential) == 0 {
			f.log.Warn("credential entry without a credential", "author", e.Author, "seq", e.Seq)
			return
		}
		if _, err := f.adm.Learn(p.Credential); err != nil {
			// Another federation's credential, or junk: not ours to trust.
			f.log.Debug("credential entry not learned", "author", e.Author, "seq", e.Seq, "err", err)
		}
	case ledger.TypeRevocation:
		var p RevocationPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			f.log.Warn("revocation entry unreadable", "author", e.Author, "seq", e.Seq, "err", err)
			return
		}
		counts, err := f.adm.Revoke(p.Credential, e.Author)
		if err != nil {
			f.log.Warn("revocation entry rejected", "author", e.Author, "seq", e.Seq, "err", err)
			return
		}
		if counts {
			f.log.Info("membership credential revoked", "credential", p.Credential, "by", e.Author)
			if fn := f.onRevoke.Load(); fn != nil {
				(*fn)()
			}
		}
	}
}

// NewAdmission builds the admission view of data directory dir's member:
// the federation's founder, and the member's own credential if it has one.
// The ledger follower adds the rest as entries arrive.
func NewAdmission(dir string, id *identity.Identity) (*Federation, *identity.Admission, error) {
	fed, err := ReadFederation(dir)
	if err != nil {
		return nil, nil, err
	}
	adm, err := identity.NewAdmission(fed.Name, fed.Founder, nil)
	if err != nil {
		return nil, nil, err
	}
	if id.DID() != fed.Founder {
		raw, err := ReadMembership(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("%s is not the founder of federation %s and its membership credential is unreadable: %w", id.DID(), fed.Name, err)
		}
		if _, err := adm.Learn(raw); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", MembershipPath(dir), err)
		}
	}
	return fed, adm, nil
}
