package ledger

import (
	"fmt"
	"sync"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// Feed is the single writer of one member's feed. It is safe for concurrent
// use; appends are serialized.
type Feed struct {
	mu     sync.Mutex
	signer identity.Signer
	seq    uint64
	head   [32]byte
	time   crdt.Timestamp
}

// NewFeed starts an empty feed written by signer.
func NewFeed(signer identity.Signer) *Feed {
	return &Feed{signer: signer}
}

// RestoreFeed continues the feed whose last entry is last, which must be a
// valid entry by signer.
func RestoreFeed(signer identity.Signer, last *Entry) (*Feed, error) {
	if last == nil {
		return NewFeed(signer), nil
	}
	_, h, err := last.Verify()
	if err != nil {
		return nil, fmt.Errorf("ledger: restore feed: %w", err)
	}
	if last.Author != signer.DID() {
		return nil, fmt.Errorf("ledger: restore feed: %w: last entry by %s, signer is %s", ErrMalformed, last.Author, signer.DID())
	}
	return &Feed{signer: signer, seq: last.Seq, head: h, time: last.Time}, nil
}

// Head returns the seq and hash of the last appended entry (0 and zero for
// an empty feed).
func (f *Feed) Head() (uint64, [32]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq, f.head
}

// Append signs the next entry of the feed. now is clamped so time never
// decreases along the feed. The feed advances only if signing succeeds.
func (f *Feed) Append(typ string, payload []byte, now crdt.Timestamp) (*Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now < f.time {
		now = f.time
	}
	e := &Entry{
		Author:  f.signer.DID(),
		Seq:     f.seq + 1,
		Prev:    f.head,
		Time:    now,
		Type:    typ,
		Payload: append([]byte(nil), payload...),
	}
	if err := e.Sign(f.signer); err != nil {
		return nil, err
	}
	// Verify what we produced: catches a signer whose key is not its DID's
	// and any shape or size problem before the entry leaves.
	_, h, err := e.Verify()
	if err != nil {
		return nil, fmt.Errorf("ledger: append: %w", err)
	}
	f.seq, f.head, f.time = e.Seq, h, e.Time
	return e, nil
}
