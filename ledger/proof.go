package ledger

import (
	"bytes"
	"fmt"
)

// EquivocationProof shows that Author signed two different entries with
// the same Seq. A and B are ordered by hash (A's is smaller), so a fork
// yields the same proof wherever it is detected.
type EquivocationProof struct {
	Author string
	Seq    uint64
	A, B   *Entry
}

// newProof builds the canonical proof from two verified, different entries.
func newProof(x, y *Entry, hx, hy [32]byte) *EquivocationProof {
	if bytes.Compare(hx[:], hy[:]) > 0 {
		x, y = y, x
	}
	return &EquivocationProof{Author: x.Author, Seq: x.Seq, A: x.Clone(), B: y.Clone()}
}

// VerifyProof checks a proof on its own: both entries valid and signed by
// Author, both at Seq, different, in canonical order. Failures wrap
// ErrInvalidProof (and the entry's own error where one is invalid).
func VerifyProof(p *EquivocationProof) error {
	if p == nil || p.A == nil || p.B == nil {
		return fmt.Errorf("%w: missing entry", ErrInvalidProof)
	}
	_, ha, err := p.A.Verify()
	if err != nil {
		return fmt.Errorf("%w: entry A: %w", ErrInvalidProof, err)
	}
	_, hb, err := p.B.Verify()
	if err != nil {
		return fmt.Errorf("%w: entry B: %w", ErrInvalidProof, err)
	}
	switch {
	case p.A.Author != p.Author || p.B.Author != p.Author:
		return fmt.Errorf("%w: entries by %s and %s, proof is about %s", ErrInvalidProof, p.A.Author, p.B.Author, p.Author)
	case p.A.Seq != p.Seq || p.B.Seq != p.Seq:
		return fmt.Errorf("%w: entries at seq %d and %d, proof is about %d", ErrInvalidProof, p.A.Seq, p.B.Seq, p.Seq)
	case ha == hb:
		return fmt.Errorf("%w: the two entries are identical", ErrInvalidProof)
	case bytes.Compare(ha[:], hb[:]) > 0:
		return fmt.Errorf("%w: entries not in canonical (hash) order", ErrInvalidProof)
	}
	return nil
}
