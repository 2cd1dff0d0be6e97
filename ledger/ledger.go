package ledger

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Bounds of the pending set of early entries.
const (
	// MaxPendingPerAuthor bounds how far ahead of an author's head an entry
	// may be held (and so how many are held per author).
	MaxPendingPerAuthor = 1024
	// MaxPendingTotal bounds held entries over all authors.
	MaxPendingTotal = 64 << 10
)

// Rejection reasons, the keys of Stats.Rejected.
const (
	ReasonMalformed    = "malformed"
	ReasonTooLarge     = "too-large"
	ReasonUnknownType  = "unknown-type"
	ReasonBadSignature = "bad-signature"
	ReasonGap          = "gap"
	ReasonDuplicate    = "duplicate"
	ReasonEquivocation = "equivocation"
	ReasonBadChain     = "bad-chain"
	ReasonPendingFull  = "pending-full"
	ReasonInvalidProof = "invalid-proof"
)

var reasons = []struct {
	err    error
	reason string
}{
	{ErrTooLarge, ReasonTooLarge},
	{ErrUnknownType, ReasonUnknownType},
	{ErrBadSignature, ReasonBadSignature},
	{ErrGap, ReasonGap},
	{ErrDuplicate, ReasonDuplicate},
	{ErrEquivocation, ReasonEquivocation},
	{ErrBadChain, ReasonBadChain},
	{ErrPendingFull, ReasonPendingFull},
	{ErrInvalidProof, ReasonInvalidProof},
	{ErrMalformed, ReasonMalformed},
}

func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ReasonMalformed
}

// Result says what Apply did.
type Result struct {
	// Applied lists the entries that became visible, in feed order: the
	// applied entry followed by any held entries it unblocked.
	Applied []*Entry
	// Pending is set when the entry was verified and held until the gap
	// before it fills (Apply also returns ErrGap).
	Pending bool
	// Proof is set when the entry proved equivocation (Apply also returns
	// ErrEquivocation). Store it (ProofKey) so other replicas learn it.
	Proof *EquivocationProof
}

// Stats counts what a Ledger did.
type Stats struct {
	Applied  uint64
	Proofs   uint64 // equivocation proofs found or applied
	Rejected map[string]uint64
}

type held struct {
	e *Entry
	h [32]byte
}

type feedState struct {
	entries     []*Entry   // entries[i] has Seq i+1
	hashes      [][32]byte // hashes[i] = entries[i].Hash()
	pending     map[uint64]held
	misbehaving bool
}

func (f *feedState) head() (uint64, [32]byte) {
	n := len(f.entries)
	if n == 0 {
		return 0, [32]byte{}
	}
	return uint64(n), f.hashes[n-1]
}

// Ledger is the pure, in-memory state machine of all feeds a replica knows.
// It is deterministic and safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	feeds    map[string]*feedState
	nPending int
	stats    Stats
}

// New returns an empty Ledger.
func New() *Ledger {
	return &Ledger{feeds: map[string]*feedState{}, stats: Stats{Rejected: map[string]uint64{}}}
}

func (l *Ledger) reject(err error) error {
	l.stats.Rejected[reasonOf(err)]++
	return err
}

// Apply verifies e and, if it continues its author's feed, makes it
// visible. See the package documentation for the rules. On error the state
// is unchanged, except that an early entry may be held (ErrGap, Result.Pending)
// and an equivocating author is marked (ErrEquivocation, Result.Proof).
func (l *Ledger) Apply(e *Entry) (Result, error) {
	if e == nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return Result{}, l.reject(fmt.Errorf("%w: nil entry", ErrMalformed))
	}
	// Verify outside the lock: it is the expensive part.
	_, h, verr := e.Verify()
	l.mu.Lock()
	defer l.mu.Unlock()
	if verr != nil {
		return Result{}, l.reject(verr)
	}
	f := l.feeds[e.Author]
	if f == nil {
		f = &feedState{}
	}
	seq, headHash := f.head()
	switch {
	case e.Seq <= seq:
		if f.hashes[e.Seq-1] == h {
			return Result{}, l.reject(fmt.Errorf("%w: %s seq %d", ErrDuplicate, e.Author, e.Seq))
		}
		return l.equivocation(f, f.entries[e.Seq-1], e, f.hashes[e.Seq-1], h)
	case e.Seq > seq+1:
		if p, ok := f.pending[e.Seq]; ok {
			if p.h == h {
				return Result{}, l.reject(fmt.Errorf("%w: %s seq %d (held)", ErrDuplicate, e.Author, e.Seq))
			}
			return l.equivocation(f, p.e, e, p.h, h)
		}
		if e.Seq-seq > MaxPendingPerAuthor || l.nPending >= MaxPendingTotal {
			return Result{}, l.reject(fmt.Errorf("%w: %s seq %d, head %d", ErrPendingFull, e.Author, e.Seq, seq))
		}
		if f.pending == nil {
			f.pending = map[uint64]held{}
		}
		f.pending[e.Seq] = held{e: e.Clone(), h: h}
		l.nPending++
		l.feeds[e.Author] = f
		return Result{Pending: true}, l.reject(fmt.Errorf("%w: %s seq %d, head %d (held)", ErrGap, e.Author, e.Seq, seq))
	}
	// e.Seq == seq+1.
	if err := continues(f, e, headHash); err != nil {
		return Result{}, l.reject(err)
	}
	l.feeds[e.Author] = f
	c := e.Clone()
	l.push(f, c, h)
	res := Result{Applied: []*Entry{c}}
	// Apply held entries the new head unblocks.
	for {
		next, hh := f.head()
		p, ok := f.pending[next+1]
		if !ok {
			break
		}
		delete(f.pending, next+1)
		l.nPending--
		if err := continues(f, p.e, hh); err != nil {
			l.reject(err)
			break
		}
		l.push(f, p.e, p.h)
		res.Applied = append(res.Applied, p.e)
	}
	return res, nil
}

func continues(f *feedState, e *Entry, headHash [32]byte) error {
	if e.Prev != headHash {
		return fmt.Errorf("%w: %s seq %d: prev is not the hash of seq %d", ErrBadChain, e.Author, e.Seq, e.Seq-1)
	}
	if n := len(f.entries); n > 0 && e.Time < f.entries[n-1].Time {
		return fmt.Errorf("%w: %s seq %d: time %v before seq %d's %v", ErrBadChain, e.Author, e.Seq, e.Time, n, f.entries[n-1].Time)
	}
	return nil
}

func (l *Ledger) push(f *feedState, e *Entry, h [32]byte) {
	f.entries = append(f.entries, e)
	f.hashes = append(f.hashes, h)
	l.stats.Applied++
}

func (l *Ledger) equivocation(f *feedState, known, e *Entry, hk, he [32]byte) (Result, error) {
	p := newProof(known, e, hk, he)
	f.misbehaving = true
	l.feeds[e.Author] = f
	l.stats.Proofs++
	return Result{Proof: p}, l.reject(fmt.Errorf("%w: %s signed two entries with seq %d", ErrEquivocation, e.Author, e.Seq))
}

// ApplyProof verifies a proof found elsewhere and marks its author
// misbehaving. It reports whether the author was newly marked.
func (l *Ledger) ApplyProof(p *EquivocationProof) (bool, error) {
	err := VerifyProof(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.stats.Rejected[ReasonInvalidProof]++
		return false, err
	}
	f := l.feeds[p.Author]
	if f == nil {
		f = &feedState{}
		l.feeds[p.Author] = f
	}
	if f.misbehaving {
		return false, nil
	}
	f.misbehaving = true
	l.stats.Proofs++
	return true, nil
}

// Misbehaving reports whether did has been proven to equivocate.
func (l *Ledger) Misbehaving(did string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.feeds[did]
	return f != nil && f.misbehaving
}

// Head returns the seq and hash of the author's last visible entry (0 and
// zero if none).
func (l *Ledger) Head(author string) (uint64, [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.feeds[author]; f != nil {
		return f.head()
	}
	return 0, [32]byte{}
}

// Entry returns the author's visible entry at seq. Do not modify it.
func (l *Ledger) Entry(author string, seq uint64) (*Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.feeds[author]
	if f == nil || seq == 0 || seq > uint64(len(f.entries)) {
		return nil, false
	}
	return f.entries[seq-1], true
}

// Entries returns the author's visible entries in feed order. Do not modify
// them.
func (l *Ledger) Entries(author string) []*Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.feeds[author]; f != nil {
		return append([]*Entry(nil), f.entries...)
	}
	return nil
}

// Authors returns the authors with visible entries or a mark, sorted.
func (l *Ledger) Authors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.feeds))
	for a, f := range l.feeds {
		if len(f.entries) > 0 || f.misbehaving {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// Pending returns how many early entries of author are held.
func (l *Ledger) Pending(author string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.feeds[author]; f != nil {
		return len(f.pending)
	}
	return 0
}

// Stats returns a copy of the counters.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Rejected = make(map[string]uint64, len(l.stats.Rejected))
	for k, v := range l.stats.Rejected {
		s.Rejected[k] = v
	}
	return s
}
